"""Deploy gates (docs/gates.md): the pure decisions behind holds, checks, filters and
rollback. No I/O, no clock reads: every function takes `now` and plain values.

- `windows`: cron fire times and wall-clock durations in an IANA timezone (cronsim, zoneinfo)
- `holds`: scheduled holds and pauses by hand -> what holds a cluster now, what starts next
- `release`: latest-wins across waiting statuses; which held deployment is released;
  the first waiting status of a deployment; manual deployments during a hold
- `changes`, `filters`: changed files of a push; `paths`, `paths_ignore`, `skip_markers`
- `checks`: are a commit's checks green (GitHub, GitLab, Gitea); the `wait_for_checks` deadline
- `rollback`: roll back, pause or nothing after a failure; quarantine
- `statuses`: `held`, `waiting_checks` and the deployment kinds (re-exported from
  relay.deployment)
"""
