// Package classify turns the text of a statement into a Class: what kind
// of statement it is and which of its properties matter for routing
// (locking reads, LAST_INSERT_ID, GET_LOCK, sequences, user variables,
// temporary tables, multi-statements …).
//
// # Pipeline
//
// Classify canonicalizes the text (comments stripped, literals to `?`,
// lists collapsed, case and spaces normalised; see canon.go), hashes the
// canonical text with FNV-1a, and looks the hash up in a bounded
// set-associative cache (64 shards, buckets of four ways, CLOCK eviction
// per bucket, lock-free lookups). Only on a miss is the original text
// parsed with the TiDB parser and the Class derived from the AST; when the
// parser rejects MariaDB-only syntax, a token classifier over the
// canonical text decides, conservatively (FlagFallback marks those classes
// for metrics).
//
// # Contracts
//
//   - Statements with the same canonical text always get the same Class, so
//     a cached answer equals a fresh parse (tested over the corpus and by
//     fuzzing). The Class therefore never depends on literal values,
//     except the autocommit and isolation values of a SET and the text of a
//     PREPARE, which the canonical form keeps. Backslash escapes are
//     assumed (NO_BACKSLASH_ESCAPES and ANSI_QUOTES are not modelled: a
//     double-quoted word is a string).
//   - A Class is a small comparable value; its strings are shared and never
//     modified.
//   - Routing hints (`-- maxproxy route to …`) live in comments, are
//     returned beside the Class, and are never cached.
//   - Classifier is safe for concurrent use. TiDB parsers are not, so they
//     are pooled; a parser that panics is reset and the statement falls back.
//
// # Cost
//
// A cache hit allocates nothing and costs the canonicalization (one pass
// over the bytes), the hash, and four pointer loads: about 150–300 ns for a
// sysbench point select on an idle core. A miss costs a parse (1–60 µs,
// tens of allocations) and one insertion under the shard's mutex.
package classify
