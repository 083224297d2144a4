-- Audit triggers, as an application's schema file would hold them.
CREATE TABLE account (
  id INT AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(80) NOT NULL COMMENT 'shown; never empty',
  balance DECIMAL(12, 2) NOT NULL DEFAULT 0,
  tier VARCHAR(10) NULL
) ENGINE=InnoDB;

CREATE TABLE account_log (id INT AUTO_INCREMENT PRIMARY KEY, account_id INT, note TEXT);

-- a comment right before the trigger: its body must stay whole
CREATE TRIGGER account_bi BEFORE INSERT ON account FOR EACH ROW
BEGIN
  -- inside the body; with a semicolon;
  SET NEW.name = TRIM(NEW.name);
  IF NEW.balance < 0 THEN
    SET NEW.balance = 0;
  ELSEIF NEW.balance > 1000000 THEN
    SET NEW.balance = 1000000;
  END IF;
  CASE
    WHEN NEW.balance >= 10000 THEN SET NEW.tier = 'gold';
    WHEN NEW.balance >= 1000 THEN SET NEW.tier = 'silver';
    ELSE SET NEW.tier = 'none';
  END CASE;
END;

# a hash comment before the next trigger
CREATE TRIGGER account_ai AFTER INSERT ON account FOR EACH ROW
  INSERT INTO account_log (account_id, note) VALUES (NEW.id, CONCAT('created; ', NEW.name));

/* a block comment; with END; inside */
CREATE TRIGGER account_bu BEFORE UPDATE ON account FOR EACH ROW
main: BEGIN
  DECLARE delta DECIMAL(12, 2) DEFAULT NEW.balance - OLD.balance;
  IF delta = 0 THEN
    LEAVE main;
  END IF;
  SET NEW.tier = CASE WHEN NEW.balance >= 10000 THEN 'gold' WHEN NEW.balance >= 1000 THEN 'silver' ELSE 'none' END;
  CASE NEW.tier
    WHEN 'gold' THEN
      BEGIN
        INSERT INTO account_log (account_id, note) VALUES (NEW.id, 'gold; again');
      END;
    ELSE
      INSERT INTO account_log (account_id, note) VALUES (NEW.id, "changed \"tier\"; ok");
  END CASE;
END main;

CREATE TRIGGER account_au AFTER UPDATE ON account FOR EACH ROW
  INSERT INTO account_log (account_id, note) VALUES (NEW.id, 'updated;');

CREATE TRIGGER account_au2 AFTER UPDATE ON account FOR EACH ROW FOLLOWS account_au
  IF NEW.name <> OLD.name THEN
    INSERT INTO account_log (account_id, note) VALUES (NEW.id, 'renamed; see name');
  END IF;

INSERT INTO account (name, balance) VALUES ('  alice ', 12000.50), ('bob', 5);
UPDATE account SET balance = balance + 1 WHERE name = 'bob';
