"""Several replicas of the server behind a load balancer, sharing one PostgreSQL database: any replica continues
any conversation (replication.py: rounds handed to their owner, requests proxied to it) and the legacy era's
sessions and payment links carry the replica that holds them (routing.py). docs/deploy.md says why."""
