-- Accounts, their namespaces and their API keys.
CREATE TABLE accounts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    plan        text NOT NULL CHECK (plan IN ('hobbyist', 'business')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    disabled_at timestamptz
);

-- A namespace without an account is shared by every account.
CREATE TABLE namespaces (
    name       text COLLATE "C" PRIMARY KEY,
    account_id bigint REFERENCES accounts (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX namespaces_account ON namespaces (account_id);

INSERT INTO namespaces (name) VALUES ('public');

-- secret_hash is an argon2id PHC string; the clear secret is never stored.
CREATE TABLE api_keys (
    id          text PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts (id),
    role        text NOT NULL CHECK (role IN ('client', 'support', 'admin')),
    namespace   text COLLATE "C" NOT NULL REFERENCES namespaces (name),
    secret_hash text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_account ON api_keys (account_id);
