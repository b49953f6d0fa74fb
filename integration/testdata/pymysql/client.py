"""Drive a MySQL endpoint with PyMySQL the way an application does.

Usage: client.py HOST PORT USER PASSWORD DATABASE

PyMySQL interpolates parameters on the client (cursor.execute with %s),
opens connections with autocommit off by default, and rewrites
executemany INSERTs into one multi-row statement: each is something a
proxy must pass through or track. The script prints one JSON object that
the Go test (proxy_pymysql_test.go) compares with what it expects; any
exception is reported in the "error" field instead of a traceback so the
test can show it.
"""

import datetime
import decimal
import json
import sys

import pymysql

ROWS = [
    (1, "Grüße 日本語 🐬", None, decimal.Decimal("12.50"), b"\x00\x01'\\", datetime.datetime(2024, 2, 29, 23, 59, 58)),
    (2, "O'Reilly \\ \"quoted\"", "note; DROP TABLE t; --", None, None, None),
    (3, "", "", decimal.Decimal("-0.01"), b"", datetime.datetime(1970, 1, 1, 0, 0, 1)),
    (4, "%s %%s ?", None, decimal.Decimal("99999999.99"), b"\xff" * 16, None),
]


def row_json(row):
    ident, name, note, amount, raw, created = row
    return {
        "id": ident,
        "name": name,
        "note": note,
        "amount": None if amount is None else str(amount),
        "raw": None if raw is None else raw.hex(),
        "created": None if created is None else created.isoformat(sep=" "),
    }


def connect(host, port, user, password, database, autocommit):
    return pymysql.connect(host=host, port=port, user=user, password=password, database=database,
                           charset="utf8mb4", autocommit=autocommit, connect_timeout=10, read_timeout=60)


def main():
    host, port, user, password, database = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    out = {"pymysql": pymysql.__version__}
    try:
        run(out, host, port, user, password, database)
    except Exception as e:  # reported to the Go test, which fails on it
        out["error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(out, ensure_ascii=False, sort_keys=True))


def run(out, host, port, user, password, database):
    # PyMySQL's default: autocommit off, so every statement runs inside a
    # transaction that only commit() or rollback() ends.
    conn = connect(host, port, user, password, database, False)
    with conn.cursor() as cur:
        cur.execute("CREATE OR REPLACE TABLE t (id INT PRIMARY KEY, name VARCHAR(64) CHARACTER SET utf8mb4 NOT NULL,"
                    " note TEXT NULL, amount DECIMAL(10,2) NULL, raw VARBINARY(16) NULL, created DATETIME NULL)")
        cur.execute("INSERT INTO t VALUES (%s, %s, %s, %s, %s, %s)", ROWS[0])
        out["executemany_rows"] = cur.executemany("INSERT INTO t VALUES (%s, %s, %s, %s, %s, %s)", ROWS[1:])
        conn.commit()

        cur.execute("SELECT id, name, note, amount, raw, created FROM t ORDER BY id")
        out["rows"] = [row_json(r) for r in cur.fetchall()]
        cur.execute("SELECT id FROM t WHERE name = %s", (ROWS[0][1],))
        out["unicode_lookup"] = [r[0] for r in cur.fetchall()]
        conn.commit()

        try:
            cur.execute("INSERT INTO t (id, name) VALUES (%s, %s)", (1, "duplicate"))
            out["duplicate_error"] = 0
        except pymysql.err.IntegrityError as e:
            out["duplicate_error"] = e.args[0]
        conn.rollback()

        conn.begin()
        cur.execute("INSERT INTO t (id, name) VALUES (%s, %s)", (100, "rolled back"))
        cur.execute("SELECT COUNT(*) FROM t")
        out["count_in_transaction"] = cur.fetchone()[0]
        conn.rollback()
        cur.execute("SELECT COUNT(*) FROM t WHERE id = %s", (100,))
        out["rolled_back_rows"] = cur.fetchone()[0]
        conn.commit()
    conn.close()

    # An autocommit session: its reads are what a read/write splitter may
    # send to the readers.
    conn = connect(host, port, user, password, database, True)
    with conn.cursor() as cur:
        # A new session has no causal history with the one that wrote the
        # rows, and a Galera reader applies them a moment later: ask the
        # readers to wait for the writes, as an application would. SET is a
        # session command, so the proxy sends it to every backend.
        cur.execute("SET SESSION wsrep_sync_wait = 1")
        counts = []
        for _ in range(10):
            cur.execute("SELECT COUNT(*), SUM(note IS NULL) FROM t")
            counts.append([int(v) for v in cur.fetchone()])
        out["autocommit_reads"] = counts
    conn.close()

    try:
        connect(host, port, user, password + "-wrong", database, True).close()
        out["bad_password_error"] = 0
    except pymysql.err.OperationalError as e:
        out["bad_password_error"] = e.args[0]
        out["bad_password_message"] = e.args[1]


if __name__ == "__main__":
    main()
