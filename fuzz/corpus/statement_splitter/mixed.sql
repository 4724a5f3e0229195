SELECT 1; /* a /* nested */ comment; */ SELECT E'it\'s;'; SELECT $tag$ ; $$ $tag$;
CREATE FUNCTION g() RETURNS int BEGIN ATOMIC SELECT 1; SELECT 2; END;
SELECT "a;b" FROM t -- trailing ;
