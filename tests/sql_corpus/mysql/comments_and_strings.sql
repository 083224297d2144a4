/*!40101 SET @saved_cs_client = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE note (
  id INT PRIMARY KEY, -- the key; a comment
  body TEXT,          # a hash comment; too
  `weird;name` INT /* a block; comment */ DEFAULT 1
) /*!50100 ENGINE=InnoDB */;
INSERT INTO note (id, body) VALUES (1, 'it''s; doubled'), (2, 'back\'slash; escaped'), (3, "double \" quoted; string");
INSERT INTO note (id, body) VALUES (4, 'a -- not a comment; '), (5, '/* not a comment; */'), (6, '# not a comment;');
INSERT INTO note (id, body) VALUES (7, 'ends with a backslash \\'), (8, N'national; string'), (9, _utf8mb4'introduced;');
SELECT 1 --1;
/*!40101 SET character_set_client = @saved_cs_client */;
/*M!100100 ALTER TABLE note ADD COLUMN extra INT */;
