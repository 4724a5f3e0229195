-- Enumerated types.

CREATE TYPE user_role AS ENUM ('viewer', 'editor', 'admin');
