-- sqlite3 workload for tests/real/sqlite.sh: run by the sqlite3 CLI against a
-- temp database file and against :memory:.  Deterministic (no random()).
.bail on
.headers on
.mode list
PRAGMA cache_size = -16000;
PRAGMA synchronous = OFF;

CREATE TABLE t(
  id    INTEGER PRIMARY KEY,
  grp   INTEGER NOT NULL,
  name  TEXT NOT NULL,
  body  TEXT,
  data  BLOB
);
CREATE TABLE g(grp INTEGER PRIMARY KEY, label TEXT, weight REAL);

BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000)
INSERT INTO t(id, grp, name, body, data)
SELECT x,
       (x * 7919) % 997,
       printf('name-%06d-%s', (x * 2654435761) % 1000003, substr('abcdefghijklmnopqrstuvwxyz', 1 + x % 26)),
       CASE WHEN x % 10 = 0 THEN printf('%.*c', 100 + x % 900, 'b') ELSE printf('body %d', x * 31) END,
       CASE WHEN x % 1000 = 0 THEN zeroblob(20000 + x % 7)
            WHEN x % 3 = 0 THEN CAST(printf('%.*c%d', x % 200, 'z', x) AS BLOB)
            ELSE NULL END
FROM c;
WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < 996)
INSERT INTO g SELECT x, printf('group %03d %s', x, hex(x * x)), (x % 17) / 4.0 FROM c;
COMMIT;

CREATE INDEX t_grp ON t(grp);
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp_len ON t(grp, length(body));

SELECT 'rows', count(*), sum(length(name)), sum(length(body)), sum(length(data)), count(data) FROM t;
SELECT 'bytes', sum(unicode(substr(name, 6, 1))), total(grp) FROM t;

-- group by / aggregates
SELECT grp, count(*) AS n, sum(id) AS s, max(length(body)) AS mb, min(name) AS mn,
       group_concat(id % 10, '') AS digits
FROM t WHERE grp < 8 GROUP BY grp ORDER BY grp;

SELECT 'top', grp, n FROM (SELECT grp, count(*) AS n FROM t GROUP BY grp) ORDER BY n DESC, grp LIMIT 5;

-- join
SELECT g.label, count(*), sum(length(t.body)), round(sum(g.weight), 2)
FROM t JOIN g ON g.grp = t.grp
WHERE t.id % 97 = 0
GROUP BY g.label ORDER BY count(*) DESC, g.label LIMIT 10;

SELECT 'selfjoin', count(*), sum(a.id - b.id)
FROM t AS a JOIN t AS b ON b.id = a.id / 2
WHERE a.id % 11 = 0;

-- string functions (lots of temporary strings)
SELECT 'strings', sum(length(upper(name) || lower(body) || replace(name, '-', '++'))),
       count(DISTINCT substr(name, 1, 9)) FROM t;

-- sort without an index (big sorter), window function
SELECT 'sorted', group_concat(id, ',') FROM (SELECT id FROM t ORDER BY body DESC, id LIMIT 20);
SELECT 'window', sum(r) FROM (SELECT row_number() OVER (PARTITION BY grp ORDER BY name) AS r FROM t WHERE id % 5 = 0);

-- json
SELECT 'json', length(json_group_array(json_object('id', id, 'name', name))) FROM t WHERE id <= 20000;

SELECT 'grplen', grp, length(body), id FROM t INDEXED BY t_grp_len WHERE grp = 5 AND length(body) > 900 ORDER BY length(body) DESC, id LIMIT 3;
DROP INDEX t_grp_len;

-- updates / deletes
BEGIN;
UPDATE t SET body = body || printf('-updated-%d', id), grp = (grp + 1) % 997 WHERE id % 4 = 0;
UPDATE t SET data = zeroblob(5000) WHERE id % 777 = 0;
DELETE FROM t WHERE id % 3 = 1;
COMMIT;
SELECT 'after', count(*), sum(length(body)), sum(length(data)), sum(grp) FROM t;

DELETE FROM t WHERE id > 250000;
VACUUM;
SELECT 'vacuumed', count(*), sum(id) FROM t;
PRAGMA integrity_check;
PRAGMA quick_check;
