-- bench/real/sqlite.sql -- insert/index/query script for bench/real/sqlite.sh
-- (sqlite3 CLI on :memory:, so the page cache lives in malloc).  @ROWS@ is
-- replaced by the row count.  Deterministic output.
PRAGMA cache_size = -65536;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, body TEXT, score REAL);
CREATE TABLE g(grp INTEGER PRIMARY KEY, label TEXT);
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < @ROWS@)
INSERT INTO t(id, grp, name, body, score)
  SELECT x, (x * 7919) % 1000, 'name' || ((x * 104729) % 100003),
         substr(hex(zeroblob(80)), 1, 20 + (x * 31) % 140), ((x * 37) % 1000) / 7.0
  FROM c;
WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < 999)
INSERT INTO g SELECT x, 'group-' || x FROM c;
COMMIT;
CREATE INDEX t_grp ON t(grp);
CREATE INDEX t_name ON t(name);
CREATE INDEX t_score ON t(score, id);
SELECT 'rows', count(*), sum(grp), total(length(body)) FROM t;
SELECT 'groups', grp, count(*), round(avg(score), 3) FROM t WHERE grp < 5 GROUP BY grp ORDER BY grp;
SELECT 'top', id, name, score FROM t ORDER BY score DESC, id LIMIT 5;
SELECT 'names', count(DISTINCT name) FROM t;
SELECT 'join', g.label, count(*) FROM t JOIN g USING(grp) WHERE t.score > 100 GROUP BY g.label ORDER BY count(*) DESC, g.label LIMIT 3;
SELECT 'like', count(*) FROM t WHERE name LIKE 'name1%';
SELECT 'window', sum(r) FROM (SELECT rank() OVER (PARTITION BY grp ORDER BY score, id) AS r FROM t WHERE grp % 10 = 0);
SELECT 'concat', length(group_concat(name, ',')) FROM (SELECT name FROM t WHERE grp = 7 ORDER BY id);
BEGIN;
UPDATE t SET body = body || body, score = score + 1 WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
COMMIT;
SELECT 'after', count(*), total(length(body)), round(sum(score), 2) FROM t;
SELECT 'lookup', count(*) FROM t WHERE name IN (SELECT 'name' || (x * 13) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000) SELECT x FROM c));
CREATE TABLE t2 AS SELECT grp, name, body FROM t ORDER BY name;
CREATE INDEX t2_body ON t2(body);
SELECT 't2', count(*), count(DISTINCT body) FROM t2;
DROP TABLE t2;
VACUUM;
PRAGMA integrity_check;
