-- SLI events per minute and SLO: good and total events, or one good/bad slice per minute for Timeslices SLOs.
-- A grouped SLO (akidb.io/group-by: edge_location) has one instance per edge location in the data, keyed
-- '<name>.<edge location>'. Generated from the SLO specs (akidb_pipelines/slo/specs/*.yaml): adding an SLO is adding YAML.
-- config: time_column: minute
{{ slo_sli_events() }}
