"""PostgreSQL alone: migrations, the group commit, the demo data set."""
