package types

import (
	"strconv"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/mysql"
)

// FieldType is a column's declared type.
type FieldType struct {
	Tp       byte // mysql.Type* (wire type codes)
	Unsigned bool
	Flen     int // display width, character length or precision; -1 unspecified
	Decimals int // scale / fractional seconds
	Coll     Collation
}

// Class groups field types by how values are stored and compared.
type Class uint8

const (
	ClassInt Class = iota
	ClassFloat
	ClassDecimal
	ClassString
	ClassDate
	ClassDatetime
	ClassTime // TIME results of expressions (TIME columns are not supported)
)

// Class of the field type.
func (ft *FieldType) Class() Class {
	switch ft.Tp {
	case mysql.TypeTiny, mysql.TypeShort, mysql.TypeInt24, mysql.TypeLong, mysql.TypeLonglong, mysql.TypeYear, mysql.TypeBit:
		return ClassInt
	case mysql.TypeFloat, mysql.TypeDouble:
		return ClassFloat
	case mysql.TypeNewDecimal:
		return ClassDecimal
	case mysql.TypeDate:
		return ClassDate
	case mysql.TypeDatetime, mysql.TypeTimestamp:
		return ClassDatetime
	case mysql.TypeDuration:
		return ClassTime
	}
	return ClassString
}

// IsBinary reports a binary string type (BINARY/VARBINARY/BLOB).
func (ft *FieldType) IsBinary() bool { return ft.Class() == ClassString && ft.Coll == CollationBinary }

// IsBlob reports TEXT/BLOB family types.
func (ft *FieldType) IsBlob() bool {
	switch ft.Tp {
	case mysql.TypeBlob, mysql.TypeTinyBlob, mysql.TypeMediumBlob, mysql.TypeLongBlob:
		return true
	}
	return false
}

// IntRange returns the allowed range of an integer type.
func (ft *FieldType) IntRange() (min int64, max uint64) {
	var bits uint
	switch ft.Tp {
	case mysql.TypeTiny:
		bits = 8
	case mysql.TypeShort:
		bits = 16
	case mysql.TypeInt24:
		bits = 24
	case mysql.TypeLong:
		bits = 32
	default:
		bits = 64
	}
	if ft.Unsigned {
		if bits == 64 {
			return 0, ^uint64(0)
		}
		return 0, 1<<bits - 1
	}
	return -(1 << (bits - 1)), 1<<(bits-1) - 1
}

// MaxChars is the maximum character length of a string type.
func (ft *FieldType) MaxChars() int {
	switch ft.Tp {
	case mysql.TypeTinyBlob:
		return 255
	case mysql.TypeBlob:
		if ft.Flen > 0 {
			return ft.Flen
		}
		return 65535
	case mysql.TypeMediumBlob:
		return 16777215
	case mysql.TypeLongBlob:
		return 1<<32 - 1
	}
	if ft.Flen < 0 {
		return 1
	}
	return ft.Flen
}

// SQLString renders the type as SHOW CREATE TABLE / information_schema COLUMN_TYPE shows it in MariaDB.
func (ft *FieldType) SQLString() string {
	var b strings.Builder
	bin := ft.Coll == CollationBinary
	switch ft.Tp {
	case mysql.TypeTiny:
		b.WriteString("tinyint(" + strconv.Itoa(ft.displayWidth()) + ")")
	case mysql.TypeShort:
		b.WriteString("smallint(" + strconv.Itoa(ft.displayWidth()) + ")")
	case mysql.TypeInt24:
		b.WriteString("mediumint(" + strconv.Itoa(ft.displayWidth()) + ")")
	case mysql.TypeLong:
		b.WriteString("int(" + strconv.Itoa(ft.displayWidth()) + ")")
	case mysql.TypeLonglong:
		b.WriteString("bigint(" + strconv.Itoa(ft.displayWidth()) + ")")
	case mysql.TypeFloat:
		b.WriteString("float")
		if ft.Flen > 0 && ft.Decimals >= 0 {
			b.WriteString("(" + strconv.Itoa(ft.Flen) + "," + strconv.Itoa(ft.Decimals) + ")")
		}
	case mysql.TypeDouble:
		b.WriteString("double")
		if ft.Flen > 0 && ft.Decimals >= 0 {
			b.WriteString("(" + strconv.Itoa(ft.Flen) + "," + strconv.Itoa(ft.Decimals) + ")")
		}
	case mysql.TypeNewDecimal:
		b.WriteString("decimal(" + strconv.Itoa(ft.Flen) + "," + strconv.Itoa(ft.Decimals) + ")")
	case mysql.TypeDate:
		b.WriteString("date")
	case mysql.TypeDatetime, mysql.TypeTimestamp:
		if ft.Tp == mysql.TypeDatetime {
			b.WriteString("datetime")
		} else {
			b.WriteString("timestamp")
		}
		if ft.Decimals > 0 {
			b.WriteString("(" + strconv.Itoa(ft.Decimals) + ")")
		}
	case mysql.TypeString:
		if bin {
			b.WriteString("binary(" + strconv.Itoa(ft.MaxChars()) + ")")
		} else {
			b.WriteString("char(" + strconv.Itoa(ft.MaxChars()) + ")")
		}
	case mysql.TypeVarchar, mysql.TypeVarString:
		if bin {
			b.WriteString("varbinary(" + strconv.Itoa(ft.MaxChars()) + ")")
		} else {
			b.WriteString("varchar(" + strconv.Itoa(ft.MaxChars()) + ")")
		}
	case mysql.TypeTinyBlob:
		b.WriteString(blobName("tiny", bin))
	case mysql.TypeBlob:
		b.WriteString(blobName("", bin))
	case mysql.TypeMediumBlob:
		b.WriteString(blobName("medium", bin))
	case mysql.TypeLongBlob:
		b.WriteString(blobName("long", bin))
	case mysql.TypeYear:
		b.WriteString("year(4)")
	default:
		b.WriteString("unknown")
	}
	if ft.Unsigned && ft.Class() != ClassString {
		b.WriteString(" unsigned")
	}
	return b.String()
}

func blobName(prefix string, bin bool) string {
	if bin {
		return prefix + "blob"
	}
	return prefix + "text"
}

func (ft *FieldType) displayWidth() int {
	if ft.Flen > 0 {
		return ft.Flen
	}
	return DefaultIntWidth(ft.Tp, ft.Unsigned)
}

// DefaultIntWidth is MariaDB's default display width of an integer type.
func DefaultIntWidth(tp byte, unsigned bool) int {
	w := map[byte]int{mysql.TypeTiny: 4, mysql.TypeShort: 6, mysql.TypeInt24: 9, mysql.TypeLong: 11, mysql.TypeLonglong: 20}[tp]
	if unsigned && tp != mysql.TypeLonglong {
		w--
	}
	return w
}

// DataTypeName is information_schema.COLUMNS.DATA_TYPE.
func (ft *FieldType) DataTypeName() string {
	s := ft.SQLString()
	if i := strings.IndexAny(s, "( "); i >= 0 {
		return s[:i]
	}
	return s
}
