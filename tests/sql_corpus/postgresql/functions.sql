-- Functions and procedures in every body form PostgreSQL takes.
CREATE TABLE item (id int PRIMARY KEY, qty int NOT NULL, "weird; name" text DEFAULT 'a;b');

-- a comment right before a BEGIN ATOMIC body: it must stay whole
CREATE FUNCTION item_count() RETURNS bigint
  LANGUAGE sql STABLE
BEGIN ATOMIC
  SELECT count(*) FROM item;
END;

/* a block comment /* nested; inside */ still a comment; */
CREATE PROCEDURE add_item(p_id int, p_qty int)
LANGUAGE sql
BEGIN ATOMIC
  INSERT INTO item (id, qty) VALUES (p_id, CASE WHEN p_qty < 0 THEN 0 ELSE p_qty END);
  UPDATE item SET qty = CASE qty WHEN 0 THEN 1 ELSE qty END WHERE id = p_id;
END;

CREATE FUNCTION label(q int) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN CASE WHEN q > 10 THEN 'many; really' ELSE 'few' END;

CREATE FUNCTION plus_one(v int) RETURNS int AS $$
BEGIN
  -- a comment; inside the dollar quote
  RETURN v + 1;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION tagged(v text) RETURNS text
LANGUAGE plpgsql AS $body$
DECLARE
  r text := $q$it's; $$quoted$$$q$;
BEGIN
  IF v IS NULL THEN
    RETURN 'none; at all';
  ELSIF v = '' THEN
    RETURN E'empty\'s; \\ string';
  END IF;
  CASE v
    WHEN 'a' THEN r := r || 'a';
    ELSE r := r || v;
  END CASE;
  FOR i IN 1..2 LOOP
    r := r || ';';
  END LOOP;
  RETURN r;
END
$body$;

CREATE PROCEDURE bump(n int) LANGUAGE plpgsql AS $$
DECLARE i int := 0;
BEGIN
  WHILE i < n LOOP
    INSERT INTO item (id, qty) VALUES (100 + i, i) ON CONFLICT (id) DO UPDATE SET qty = item.qty + 1;
    i := i + 1;
  END LOOP;
END $$;

DO $do$
BEGIN
  PERFORM plus_one(1);
  RAISE NOTICE 'done; %', 1;
END
$do$;

CALL add_item(1, 5);
CALL bump(2);
SELECT item_count(), label(qty), tagged('x') FROM item;
