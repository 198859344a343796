-- The account service's own database and user on the compose MySQL (docker-compose.yml
-- mounts this file into /docker-entrypoint-initdb.d/). A participant keeps its data, and
-- its barrier table, in its own database: the coordinator's `tcc` database is not its business.
--
-- The mysql image runs these scripts only when it initialises an EMPTY data volume. With a
-- volume from before this file existed, either start over (`docker compose down -v`, which
-- deletes the data) or run it once by hand:
--   docker compose exec -T mysql mysql -uroot -ptcc < participants/account/mysql-init.sql
-- The password is a local-demo one, like the compose root password: change both for real use.
CREATE DATABASE IF NOT EXISTS account CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'account'@'%' IDENTIFIED BY 'account';
-- Its tables are created by the service itself at start (knex migrations), hence DDL rights.
GRANT ALL PRIVILEGES ON account.* TO 'account'@'%';
