package classify

// builtinFuncs are MariaDB built-in functions that only compute a value. A
// call to any other name (a stored function or a UDF) may write, so the
// statement goes to the master. Functions with routing consequences
// (LAST_INSERT_ID, the GET_LOCK family, sequences, FOUND_ROWS, ROW_COUNT)
// are handled by name before this set is consulted.
var builtinFuncs = makeSet(`
abs acos add_months adddate addtime aes_decrypt aes_encrypt any_value area ascii asin astext aswkb atan atan2 avg
benchmark bin bin_to_uuid binlog_gtid_pos bit_and bit_count bit_length bit_or bit_xor boundary
cast ceil ceiling centroid char char_length character_length charset chr coalesce coercibility collation
column_check column_create column_delete column_exists column_get column_json column_list compress concat
concat_operator_oracle concat_ws connection_id contains conv convert convert_tz cos cot count crc32 crc32c
cume_dist curdate current_date current_role current_time current_timestamp current_user curtime
database date date_add date_format date_sub datediff day dayname dayofmonth dayofweek dayofyear decode
decode_histogram default degrees dense_rank des_decrypt des_encrypt dimension disjoint div elt encode
encrypt endpoint envelope equals exp export_set exteriorring extract extractvalue field find_in_set
first_value floor format format_bytes format_pico_time found_rows from_base64 from_days from_unixtime
geometrycollection geomfromtext geomfromwkb get_format glength greatest group_concat grouping hex hour
if ifnull in inet6_aton inet6_ntoa inet_aton inet_ntoa insert instr interiorringn intersects interval
is_free_lock is_ipv4 is_ipv4_compat is_ipv4_mapped is_ipv6 is_used_lock isclosed isempty isnull issimple
json_array json_array_append json_array_insert json_array_intersect json_arrayagg json_compact json_contains
json_contains_path json_depth json_detailed json_equals json_exists json_extract json_insert json_key_value
json_keys json_length json_loose json_merge json_merge_patch json_merge_preserve json_normalize json_object
json_object_filter_keys json_object_to_array json_objectagg json_overlaps json_pretty json_query json_quote
json_remove json_replace json_schema_valid json_search json_set json_table json_type json_unquote json_valid
json_value kdf lag last_day last_value lcase lead least left length lengthb like linefromtext linestring ln load_file
localtime localtimestamp locate log log10 log2 lower lpad ltrim make_set makedate maketime master_gtid_wait
master_pos_wait max md5 median microsecond mid min minute mod month monthname multilinestring multipoint
multipolygon name_const natural_sort_key now nth_value ntile nullif numgeometries numinteriorrings
numpoints oct octet_length old_password ord overlaps password percent_rank percentile_cont percentile_disc
period_add period_diff pi point pointn polygon position pow power quarter quote radians rand random_bytes
rank regexp regexp_instr regexp_like regexp_replace regexp_substr release_lock repeat replace reverse
right rlike round row_number rownum rpad rtrim schema sec_to_time second session_user sformat sha sha1
sha2 sign sin sleep soundex space sqrt srid st_area st_asbinary st_asgeojson st_astext st_aswkb st_aswkt
st_boundary st_buffer st_centroid st_contains st_convexhull st_crosses st_difference st_dimension
st_disjoint st_distance st_distance_sphere st_endpoint st_envelope st_equals st_exteriorring
st_geomcollfromtext st_geometryn st_geometrytype st_geomfromgeojson st_geomfromtext st_geomfromwkb
st_interiorringn st_intersection st_intersects st_isclosed st_isempty st_isring st_issimple st_isvalid
st_length st_linefromtext st_numgeometries st_numinteriorrings st_numpoints st_overlaps st_pointfromtext
st_pointn st_polyfromtext st_relate st_simplify st_srid st_startpoint st_symdifference st_touches
st_union st_within st_x st_y startpoint std stddev stddev_pop stddev_samp str_to_date strcmp subdate
substr substring substring_index subtime sum sys_guid sysdate system_user tan time time_format
time_to_sec timediff timestamp timestampadd timestampdiff to_base64 to_char to_days to_seconds touches
trim trim_oracle truncate ucase uncompress uncompressed_length unhex unix_timestamp updatexml upper user
utc_date utc_time utc_timestamp uuid uuid_short uuid_to_bin values var_pop var_samp variance version
week weekday weekofyear weight_string within x xor y year yearweek
`)

// nonDeterministic functions give a different answer on each call or each
// server; informational for replay and caching layers.
var nonDeterministic = makeSet(`
benchmark connection_id curdate current_date current_time current_timestamp curtime localtime
localtimestamp now rand random_bytes sleep sys_guid sysdate unix_timestamp utc_date utc_time
utc_timestamp uuid uuid_short
`)

func makeSet(words string) map[string]struct{} {
	m := make(map[string]struct{})
	start := -1
	for i := 0; i <= len(words); i++ {
		if i == len(words) || words[i] == ' ' || words[i] == '\n' {
			if start >= 0 {
				m[words[start:i]] = struct{}{}
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	return m
}
