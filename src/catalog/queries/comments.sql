-- Comments on user objects only (built-in objects have OIDs below 16384); rows for
-- objects that are not in the model are simply never looked up.
SELECT d.classoid,
       d.objoid,
       d.objsubid,
       d.description
FROM pg_description d
WHERE d.objoid >= 16384
