-- Dumped from database version 16.1
\connect other
