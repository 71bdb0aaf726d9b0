//! Leasehold: a durable lock server on PostgreSQL.

pub mod admin;
pub mod app_state;
pub mod audit_maintenance;
pub mod auth;
pub mod cli;
pub mod config;
pub mod console;
pub mod domain;
pub mod durability;
pub mod http;
pub mod leases;
pub mod local_postgres;
pub mod metrics;
pub mod startup;
pub mod store;
pub mod sweeper;
pub mod telemetry;
pub mod tenancy;
pub mod tls;
pub mod usage;
pub mod wake;
pub mod watch;
pub mod webhooks;
