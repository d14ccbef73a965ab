"""The debrief of an incident as a readable page (Jinja2, every value escaped)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, select_autoescape

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Debrief: incident {{ i.id }} {{ i.title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: left; }
th { background: #f3f3f3; }
.status { font-weight: bold; text-transform: uppercase; }
dl { display: grid; grid-template-columns: max-content auto; gap: .25rem 1rem; }
dt { font-weight: bold; }
</style>
</head>
<body>
<h1>Incident {{ i.id }}: {{ i.title }}</h1>
<p><span class="status">{{ i.status }}</span> &middot; level {{ i.level }}
 &middot; label <code>{{ i.label }}</code> &middot; bank <code>{{ i.bank }}</code></p>
{% if i.description %}<p>{{ i.description }}</p>{% endif %}
<dl>
<dt>Location</dt><dd>{{ i.location or "not given" }}</dd>
<dt>Attack began</dt><dd>{{ i.attack_at or "not given" }}</dd>
<dt>Criteria met</dt><dd>{{ i.criteria | join(", ") or "none given" }}</dd>
<dt>Declared</dt><dd>{{ r.declared_at or "not yet" }}{% if i.declared_by %}
 by {{ i.declared_by }}{% endif %}</dd>
<dt>Concluded</dt><dd>{{ r.concluded_at or "still open" }}{% if i.concluded_by %}
 by {{ i.concluded_by }}{% endif %}</dd>
<dt>Declaration to first hash</dt><dd>{{ seconds(r.seconds_to_first_hash) }}</dd>
<dt>Declaration to conclusion</dt><dd>{{ seconds(r.seconds_to_conclusion) }}</dd>
<dt>Distinct items</dt><dd>{{ r["items"] }} ({{ r.withdrawn_items }} withdrawn since)</dd>
<dt>Hashes</dt><dd>{{ r.hashes }}</dd>
<dt>Situation updates</dt><dd>{{ r.situation_updates }}</dd>
<dt>Latest situation</dt><dd>{{ i.situation or "none" }}</dd>
</dl>

<h2>Hashes per hour</h2>
{% if r.hashes_per_hour %}
<table><tr><th>Hour</th><th>From</th><th>Items</th><th>Hashes</th></tr>
{% for h in r.hashes_per_hour %}
<tr><td>{{ h.hour }}</td><td>{{ h["from"] }}</td><td>{{ h["items"] }}</td>
<td>{{ h.hashes }}</td></tr>
{% endfor %}</table>
{% else %}<p>No hashes were shared.</p>{% endif %}

<h2>Contributors</h2>
{% if r.contributors %}
<table><tr><th>Member</th><th>Items</th></tr>
{% for c in r.contributors %}<tr><td>{{ c.member }}</td><td>{{ c["items"] }}</td></tr>
{% endfor %}</table>
{% else %}<p>None.</p>{% endif %}

<h2>Acknowledgements ({{ r.members_acknowledging }}, median
 {{ seconds(r.median_ack_seconds) }})</h2>
{% if r.acknowledgements %}
<table><tr><th>Member</th><th>At</th><th>After declaration</th></tr>
{% for a in r.acknowledgements %}
<tr><td>{{ a.member }}</td><td>{{ a.at }}</td>
<td>{{ seconds(a.seconds_after_declaration) }}</td></tr>
{% endfor %}</table>
{% else %}<p>No member has acknowledged the incident.</p>{% endif %}

<h2>Matches and blocks reported by members ({{ r.matches }} matches,
 {{ r.blocks }} blocks)</h2>
{% if r.member_counts %}
<table><tr><th>Member</th><th>Matches</th><th>Blocks</th><th>Reported</th></tr>
{% for c in r.member_counts %}
<tr><td>{{ c.member }}</td><td>{{ c.matches }}</td><td>{{ c.blocks }}</td>
<td>{{ c.updated_at }}</td></tr>
{% endfor %}</table>
{% else %}<p>No member has reported counts.</p>{% endif %}
</body>
</html>
"""

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def _seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


_PAGE = _ENV.from_string(_TEMPLATE, globals={"seconds": _seconds})


def render_report(report: dict[str, Any]) -> str:
    return _PAGE.render(i=report["incident"], r=report)
