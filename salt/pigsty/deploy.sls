{#- Everything, in the order pigsalt.plan.DEPLOY gives (the pigsalt.stages runner): the meta
    nodes' infrastructure, then every node's baseline, then every PostgreSQL cluster of the
    inventory, side by side (clusters share no node). `pigsalt deploy` runs the same stages.

    Run on the master:  salt-run state.orch pigsty.deploy #}
{%- set stages = salt['saltutil.runner']('pigsalt.stages') %}
{%- if stages is string or stages is not sequence %}

pigsty-deploy-stages-test-fail:
  test.fail_without_changes:
    - name: {{ ("the pigsalt.stages runner did not answer (is pigsalt installed on the master?): " ~ (stages | string)) | json }}
{%- else %}
{%- for stage in stages %}
{%- set before = stages[loop.index0 - 1] if not loop.first else [] %}
{%- for step in stage %}

pigsty-deploy-{{ step.id }}-orch:
  salt.runner:
    - name: state.orchestrate
    - mods: {{ step.mods }}
{%- if step.pillar %}
    - pillar: {{ step.pillar | json }}
{%- endif %}
{%- if stage | length > 1 %}
    - parallel: True
{%- endif %}
{%- if before %}
    - require:
{%- for prev in before %}
      - salt: pigsty-deploy-{{ prev.id }}-orch
{%- endfor %}
{%- endif %}
{%- endfor %}
{%- endfor %}
{%- endif %}
