-- BEGIN is not reserved on PostgreSQL, and any keyword may be a column label after AS: only
-- BEGIN ATOMIC opens a routine's body, and CASE/END right after AS or a dot are names.
CREATE TABLE span (id int PRIMARY KEY, begin int, finish int);

CREATE FUNCTION span_length(begin int, finish int) RETURNS int
LANGUAGE sql IMMUTABLE
RETURN finish - begin;

CREATE FUNCTION spans() RETURNS TABLE (begin int, finish int)
LANGUAGE sql STABLE
BEGIN ATOMIC
  SELECT s.begin, s.finish FROM span AS s ORDER BY 1;
END;

CREATE FUNCTION labelled() RETURNS TABLE (x int, y text)
LANGUAGE sql STABLE
BEGIN ATOMIC
  SELECT q.end, q.case FROM (SELECT s.finish AS end, CASE WHEN s.begin > 0 THEN 'pos' ELSE 'neg' END AS case FROM span AS s) AS q;
END;

CREATE PROCEDURE add_span(i int, b int, f int)
LANGUAGE sql
BEGIN ATOMIC
  INSERT INTO span (id, begin, finish) VALUES (i, b, f);
  UPDATE span SET finish = CASE WHEN finish < begin THEN begin ELSE finish END WHERE id = i;
END;

CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;

CREATE TRIGGER span_batch AFTER INSERT ON span REFERENCING NEW TABLE AS begin
FOR EACH STATEMENT EXECUTE FUNCTION touch();

CALL add_span(1, 2, 5);
CALL add_span(2, 7, 3);
CREATE TABLE span_copy AS SELECT * FROM spans();
CREATE TABLE span_labels AS SELECT * FROM labelled();
INSERT INTO span_copy VALUES (span_length(3, 10), 0);
