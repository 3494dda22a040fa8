"""Game days on replayed telemetry: a scenario through the whole pipeline, then the response layer on a simulated
clock, scored per detector against the scenario's ground truth.

A chaos scenario is a generator scenario (incidents, non-incident events such as traffic surges and holiday
dips, deploys) plus how to replay it::

    name: spot-alone
    description: ...
    start: 2026-11-13T00:00:00Z     # default: the Friday two weeks back (training then spans a weekend)
    days: 7                          # telemetry generated
    train_days: 4                    # the forecast models are trained on the first days; the rest is replayed
    seed: 42
    traces_per_minute: 2
    incidents: [...]                 # as in synthetic/scenarios/default.yaml
    events: [...]                    # traffic_surge / holiday_dip: not incidents, must not page

:func:`run.build` runs the pipeline core over it (generate -> ingest -> every SQL model -> Prophet training at
``train_days`` with the change calendar -> anomaly scoring of the rest). Every stage is causal (a minute's burn
rate, golden signals and anomaly score use only earlier minutes), so computing them in one pass gives the same rows
a minute-by-minute micro-batch would; what the replay adds is *when* each decision happens. :func:`replay.replay` runs
the response tick at the cadence the sensors would: one minute after each alert onset (the minute must close)
plus the pipeline's cycle time, then 5, 10, 15, 30 and 60 minutes later (holds, flaps, escalations, resolutions)
and every hour,
with the outbox on the simulated clock and a simulated on-call acknowledging each page after ``ack_minutes``.

Detectors: ``static`` (the shipped static threshold rules, all enabled: our old baseline), ``burn_rate`` (SLO
multi-window burn rates only), ``anomaly`` (Prophet anomalies only), ``combined`` (burn rates + anomalies: what
ships). Per injected incident: first detection (an alert of the detector overlapping it), first page, MTTD
(onset -> page), MTTA (page -> acknowledgement), MTTR (onset -> recovery), whether the root cause type was named.

Runbooks act for real: each replay runs against a fresh moto sandbox (``aws_sandbox.Sandbox``) with every runbook
enabled; the ledger is written after each response tick and the runbook lifecycle (apply, verify, restore) runs
every minute for 90 minutes after a page, starting a minute after it (the runbook sensor's next evaluation).
Recovery, per incident (``recovery_source``):

- ``telemetry``: the first minute from which the verification metric of the runbook that answers the incident's
  type (spot: akidb-rest error rate < 1%; storm: edge P95 < 200 ms; LSTM: provisioned/used < 3) stays below its
  bound for the verification's minutes, read from the golden signals;
- for the shipped detector (combined) the loop is closed: an incident whose runbook was applied ends
  ``MITIGATION_MINUTES`` of the action after the apply (the time the action takes to bite: an assumption, stated in
  the report), the scenario's telemetry is generated again with that end, run through the whole pipeline, the
  response and the runbooks are replayed on it (the runbook's own verification then checks the real curve), and
  the recovery is read from that telemetry;
- ``modelled`` (the other detectors, whose actions are not fed back): the apply time plus the action's time.

The recovery read from the closed loop's telemetry is labelled ``modelled (closed loop)``: that telemetry was shaped
by the assumed action time, so it checks the chain, it does not measure the action. Only a runbook whose trigger
names the injected incident's cause is credited with ending it.

Modules: ``scenario`` (the file format), ``replay`` (the response layer per detector), ``recovery`` (MTTR from the
telemetry, the closed loop), ``report`` (results, goals, the lake report), ``run`` (one scenario, a batch of them,
the measured cycle time). The pipeline itself is ``akidb_pipelines.pipeline``; the simulated clock is
``akidb_pipelines.response_replay``.
"""
