\restrict abc
SET x = 1;
COPY t (a, b) FROM stdin;
1	2
\.
\connect other
SELECT 1
\unrestrict abc
