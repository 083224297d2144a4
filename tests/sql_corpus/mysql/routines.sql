CREATE TABLE item (id INT PRIMARY KEY, qty INT NOT NULL, `group; name` VARCHAR(20) DEFAULT 'a;b');

CREATE FUNCTION item_label(q INT) RETURNS VARCHAR(20) DETERMINISTIC
  RETURN CASE WHEN q > 10 THEN 'many; really' WHEN q > 0 THEN 'some' ELSE 'none' END;

-- a function whose body is a BEGIN ... END block with a CASE expression ending 'END);'
CREATE FUNCTION clamp(v INT, lo INT, hi INT) RETURNS INT
  DETERMINISTIC
  COMMENT 'returns v; clamped'
BEGIN
  DECLARE r INT;
  SET r = GREATEST(lo, LEAST(hi, CASE WHEN v IS NULL THEN lo ELSE v END));
  CASE
    WHEN r = lo THEN RETURN lo;
    ELSE BEGIN END;
  END CASE;
  RETURN r;
END;

CREATE PROCEDURE fill_items(IN n INT)
  MODIFIES SQL DATA
  SQL SECURITY INVOKER
  COMMENT 'fills; the table'
outer_block: BEGIN
  DECLARE i INT DEFAULT 0;
  DECLARE done INT DEFAULT FALSE;
  DECLARE CONTINUE HANDLER FOR SQLSTATE '23000', NOT FOUND SET done = TRUE;
  fill: LOOP
    SET i = i + 1;
    IF i > n THEN
      LEAVE fill;
    END IF;
    WHILE i % 3 = 0 DO
      SET i = i + 1;
      REPEAT
        SET done = NOT done;
      UNTIL done END REPEAT;
    END WHILE;
    INSERT INTO item (id, qty) VALUES (i, i * 2);
  END LOOP fill;
  IF (SELECT COUNT(*) FROM item) = 0 THEN
    LEAVE outer_block;
  END IF;
END outer_block;

CREATE PROCEDURE count_items(OUT total INT)
  READS SQL DATA
BEGIN
  DECLARE c CURSOR FOR SELECT qty FROM item;
  SELECT COUNT(*) INTO total FROM item WHERE `group; name` = 'a;b';
END;

/* a procedure whose body is one WHILE without BEGIN */
CREATE PROCEDURE drain() WHILE (SELECT COUNT(*) FROM item) > 100 DO
  DELETE FROM item ORDER BY id LIMIT 1;
END WHILE;

CALL fill_items(5);
SELECT item_label(qty), clamp(qty, 1, 4) FROM item;
