#!/bin/sh
# Rendered by toolpark compose; runs once when the data volume is empty.
set -eu
psql -v ON_ERROR_STOP=1 -U postgres -v pw="$TOOLPARK_DB_PASSWORD" <<'SQL'
CREATE ROLE toolpark LOGIN PASSWORD :'pw';
CREATE DATABASE toolpark OWNER toolpark;
SQL
psql -v ON_ERROR_STOP=1 -U postgres -v pw="$LITELLM_DB_PASSWORD" <<'SQL'
CREATE ROLE litellm LOGIN PASSWORD :'pw';
CREATE DATABASE litellm OWNER litellm;
SQL
psql -v ON_ERROR_STOP=1 -U postgres -d toolpark -c 'CREATE EXTENSION IF NOT EXISTS vector;'
