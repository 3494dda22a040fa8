"""Local stand-ins for the outside world, for the tests, the demo and the chaos replay: a PagerDuty Events API v2
server on 127.0.0.1 (``pagerduty_standin``) and an AWS sandbox on moto (``aws_sandbox``; moto is a dev extra,
imported only when a sandbox starts)."""
