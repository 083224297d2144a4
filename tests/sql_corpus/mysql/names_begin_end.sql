-- begin and end are not reserved on MySQL/MariaDB: columns, variables and aliases named so, inside
-- compound statements, are names (only BEGIN in statement position opens a block, and END closes one
-- only in statement position or right after a CASE expression's last operand).
CREATE TABLE booking (
  id INT PRIMARY KEY,
  begin DATETIME NULL,
  start DATETIME NULL,
  end DATETIME NULL,
  nights INT NULL
);

CREATE TABLE booking_log (id INT, what VARCHAR(40), end DATETIME NULL);

CREATE TRIGGER booking_fill BEFORE INSERT ON booking FOR EACH ROW
BEGIN
  IF NEW.end IS NULL THEN
    SET NEW.end = NEW.start + INTERVAL 1 DAY;
  END IF;
  SET NEW.nights = CASE WHEN NEW.end > NEW.start THEN DATEDIFF(NEW.end, NEW.start) ELSE 0 END;
  INSERT INTO booking_log (id, what, end) VALUES (NEW.id, 'insert; end', NEW.end);
END;

CREATE PROCEDURE close_open_bookings()
BEGIN
  UPDATE booking SET end = start WHERE end IS NULL;
  UPDATE booking SET begin = start, end = end;
  SELECT id, begin, end FROM booking ORDER BY end;
END;

CREATE PROCEDURE count_to(IN begin INT, IN end INT)
BEGIN
  DECLARE i INT DEFAULT begin;
  REPEAT
    INSERT INTO booking_log (id, what) VALUES (i, CASE WHEN i = end THEN 'last' ELSE 'step' END);
    SET i = i + 1;
  UNTIL i > end END REPEAT;
END;

CREATE FUNCTION last_end() RETURNS DATETIME READS SQL DATA
BEGIN
  DECLARE end DATETIME;
  SELECT MAX(b.end) INTO end FROM booking AS b;
  RETURN CASE WHEN end IS NULL THEN NOW() ELSE end END;
END;

CREATE FUNCTION span_of(begin INT, end INT) RETURNS INT DETERMINISTIC
RETURN IF(end > begin, end - begin, CASE WHEN end = begin THEN 0 ELSE begin - end END);

CREATE PROCEDURE aliases()
BEGIN
  SELECT id AS begin, end AS end, CASE id WHEN 1 THEN end ELSE begin END AS which FROM booking;
END;

INSERT INTO booking (id, start) VALUES (1, '2024-01-01 10:00:00');
INSERT INTO booking (id, start, end) VALUES (2, '2024-01-05 10:00:00', '2024-01-08 10:00:00');
CALL close_open_bookings();
CALL count_to(1, 3);
CALL aliases();
INSERT INTO booking_log (id, what, end) VALUES (span_of(2, 7), 'span', last_end());
