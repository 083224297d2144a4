CREATE TABLE account (id serial PRIMARY KEY, name text NOT NULL, balance numeric(12, 2) NOT NULL DEFAULT 0, tier text);
CREATE TABLE account_log (id serial PRIMARY KEY, account_id int, note text);

CREATE FUNCTION account_tier() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  NEW.tier := CASE WHEN NEW.balance >= 10000 THEN 'gold' WHEN NEW.balance >= 1000 THEN 'silver' ELSE 'none' END;
  RETURN NEW;
END;
$fn$;

-- the trigger
CREATE TRIGGER account_bi BEFORE INSERT OR UPDATE ON account
  FOR EACH ROW EXECUTE FUNCTION account_tier();

CREATE FUNCTION account_audit() RETURNS trigger
LANGUAGE plpgsql
AS '
BEGIN
  INSERT INTO account_log (account_id, note) VALUES (NEW.id, ''changed; '' || NEW.name);
  RETURN NULL;
END;
';

CREATE TRIGGER account_ai AFTER INSERT ON account FOR EACH ROW
  WHEN (NEW.balance > 0) EXECUTE FUNCTION account_audit();

CREATE RULE account_log_guard AS ON DELETE TO account_log DO INSTEAD (
  UPDATE account_log SET note = note || ' (kept; not deleted)' WHERE id = OLD.id;
  SELECT 1;
);

CREATE VIEW rich AS SELECT "id", name AS "name; shown" FROM account WHERE balance > 1000;
COMMENT ON VIEW rich IS 'accounts; rich ones';
INSERT INTO account (name, balance) VALUES (U&'d\0061t\+000061; ok', 12000), (E'b\'ob;', 5), ('it''s; me', 0);
