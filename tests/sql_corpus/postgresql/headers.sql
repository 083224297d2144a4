-- Routine headers with comments between their words, and objects named like keywords.
CREATE TABLE "begin" (id int, "end" int, "case" text);
CREATE TABLE event (id int, begin_at int);
CREATE /* c */ OR REPLACE -- c
  FUNCTION /* c */ h_sum(a int DEFAULT 1, VARIADIC rest int[] DEFAULT '{}') -- c
  RETURNS TABLE (total int, label text) -- c
  LANGUAGE sql -- c
  STABLE PARALLEL SAFE
  BEGIN ATOMIC -- c
    SELECT a + coalesce((SELECT sum(r) FROM unnest(rest) AS r), 0)::int, CASE WHEN a > 1 THEN 'many; ' ELSE 'one' END; -- c
  END;
CREATE FUNCTION h_nested(x int) RETURNS int LANGUAGE sql
BEGIN ATOMIC
  SELECT CASE WHEN x > 0 THEN CASE x WHEN 1 THEN 10 ELSE 20 END ELSE 0 END;
END;
CREATE PROCEDURE h_proc(INOUT n int) LANGUAGE plpgsql AS $proc$
  BEGIN n := n + 1; END $proc$;
CREATE FUNCTION h_quote() RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'it''s; $x$ fine' $$;
CREATE FUNCTION h_trig() RETURNS trigger LANGUAGE plpgsql AS $_$ BEGIN NEW."end" := 1; RETURN NEW; END $_$;
CREATE TRIGGER h_t BEFORE INSERT ON "begin" FOR EACH ROW EXECUTE PROCEDURE h_trig();
INSERT INTO "begin" (id, "case") VALUES (1, U&'\0441\043B\043E\043D; ok'), (2, E'tab\there; ''q''');
SELECT * FROM h_sum(2, 3, 4), h_nested(1), h_quote();
