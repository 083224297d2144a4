-- MariaDB runs compound statements outside stored programs: BEGIN NOT ATOMIC ... END and
-- IF/CASE/WHILE/LOOP/REPEAT/FOR ... END <word> are one statement each, semicolons and all.
CREATE TABLE counter (n INT, note VARCHAR(20));

BEGIN NOT ATOMIC
  DECLARE i INT DEFAULT 0;
  DECLARE end INT DEFAULT 2;
  WHILE i < end DO
    INSERT INTO counter VALUES (i, 'while; loop');
    SET i = i + 1;
  END WHILE;
END;

IF (SELECT COUNT(*) FROM counter) = 2 THEN
  INSERT INTO counter VALUES (10, 'if');
ELSE
  INSERT INTO counter VALUES (-10, 'else; END IF');
END IF;

SET @k = 0;
WHILE @k < 2 DO
  INSERT INTO counter VALUES (20 + @k, 'top while');
  SET @k = @k + 1;
END WHILE;

CASE WHEN @k = 2 THEN INSERT INTO counter VALUES (30, 'case'); ELSE BEGIN END; END CASE;

REPEAT
  SET @k = @k - 1;
  INSERT INTO counter VALUES (40 + @k, CASE WHEN @k = 0 THEN 'repeat end' ELSE 'repeat' END);
UNTIL @k <= 0 END REPEAT;

FOR r IN (SELECT n FROM counter WHERE n < 2) DO
  INSERT INTO counter VALUES (50 + r.n, 'for');
END FOR;

BEGIN;
INSERT INTO counter VALUES (60, 'in a transaction');
COMMIT;
