CREATE TABLE counter (name VARCHAR(20) PRIMARY KEY, n INT NOT NULL DEFAULT 0);

-- an event with a BEGIN ... END body
CREATE EVENT tick ON SCHEDULE EVERY 1 HOUR DISABLE COMMENT 'ticks; hourly'
DO BEGIN
  INSERT INTO counter (name, n) VALUES ('tick', 1) ON DUPLICATE KEY UPDATE n = n + 1;
  IF (SELECT n FROM counter WHERE name = 'tick') > 100 THEN
    UPDATE counter SET n = 0 WHERE name = 'tick';
  END IF;
END;

CREATE EVENT tock ON SCHEDULE EVERY 1 DAY DISABLE
DO DELETE FROM counter WHERE n < 0;

# the event's body changes: ALTER EVENT ... DO keeps its body whole too
ALTER EVENT tock DO BEGIN
  DELETE FROM counter WHERE n < 0;
  DELETE FROM counter WHERE name = 'x;y';
END;

-- MariaDB's anonymous block and FOR loop
BEGIN NOT ATOMIC
  DECLARE x INT DEFAULT 0;
  FOR i IN 1 .. 3 DO
    SET x = x + i;
  END FOR;
  INSERT INTO counter (name, n) VALUES ('for', x);
END;
