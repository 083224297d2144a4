-- Triggers with BEGIN ... END bodies and CASE ... END inside.
CREATE TABLE account (id INTEGER PRIMARY KEY, name TEXT NOT NULL, balance REAL NOT NULL DEFAULT 0, tier TEXT);
CREATE TABLE account_log (id INTEGER PRIMARY KEY, account_id INTEGER, note TEXT);

-- a comment right before the trigger
CREATE TRIGGER account_ai AFTER INSERT ON account
BEGIN
  UPDATE account SET tier = CASE WHEN NEW.balance >= 10000 THEN 'gold' WHEN NEW.balance >= 1000 THEN 'silver' ELSE 'none' END
    WHERE id = NEW.id;
  -- a comment; inside the body
  INSERT INTO account_log (account_id, note) VALUES (NEW.id, 'created; ' || NEW.name);
END;

/* a block comment; END; */
CREATE TRIGGER account_au AFTER UPDATE OF balance ON account
WHEN NEW.balance <> OLD.balance
BEGIN
  INSERT INTO account_log (account_id, note)
    SELECT NEW.id, CASE WHEN NEW.balance > OLD.balance THEN 'up; ' ELSE 'down; ' END || "name" FROM account WHERE id = NEW.id;
END;

CREATE VIEW "rich; view" AS SELECT [id], `name` FROM account WHERE balance > 1000;
CREATE TRIGGER rich_ins INSTEAD OF INSERT ON "rich; view"
BEGIN
  INSERT INTO account (name, balance) VALUES (NEW.name, 1001);
END;

INSERT INTO account (name, balance) VALUES ('alice', 12000), ('it''s; bob', 5);
UPDATE account SET balance = balance + 1;
INSERT INTO "rich; view" (name) VALUES ('carol');
