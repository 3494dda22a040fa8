-- SLI events per minute and SLO: good and total events, or one good/bad slice per minute for Timeslices SLOs.
-- Generated from the SLO specs (akidb_pipelines/slo/specs/*.yaml): adding an SLO is adding YAML.
-- config: time_column: minute
{{ slo_sli_events() }}
