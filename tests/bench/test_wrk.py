"""The wrk Lua script we generate and the summary we read back from wrk."""

from __future__ import annotations

import pytest

from bench.wrk import parse_wrk_output, wrk_script

WRK_STDOUT = """\
Running 15s test @ http://127.0.0.1:8000/score
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.00ms    3.00ms  80.00ms   90.00%
  30000 requests in 15.00s, 9.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   2000.00

{"requests":30000,"duration_us":15000000,"bytes":9000000,"errors":{"connect":0,"read":1,\
"write":0,"status":3,"timeout":2},"latency_us":{"p50":11000,"p90":15500,"p99":42000,\
"max":80000,"mean":12000.5}}
"""


def test_the_summary_line_becomes_rates_milliseconds_and_errors() -> None:
    result = parse_wrk_output(WRK_STDOUT)
    assert result["requests"] == 30000
    assert result["rps"] == pytest.approx(2000.0)
    assert result["latency"]["p50_ms"] == pytest.approx(11.0)
    assert result["latency"]["p99_ms"] == pytest.approx(42.0)
    assert result["latency"]["max_ms"] == pytest.approx(80.0)
    assert result["non_2xx"] == 3
    assert result["socket_errors"] == 3


def test_no_summary_line_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no summary"):
        parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_the_script_holds_every_body_as_a_lua_long_string() -> None:
    bodies = [b'{"entities":[{"customer_id":1}]}', b'{"odd":"]]"}']
    script = wrk_script(bodies)
    assert '[[{"entities":[{"customer_id":1}]}]]' in script
    # A body holding "]]" gets a bracket level that it does not contain.
    assert '[=[{"odd":"]]"}]=]' in script
    assert 'wrk.format("POST", nil, headers, body)' in script
    assert "position % #requests + 1" in script
    with pytest.raises(ValueError, match="at least one"):
        wrk_script([])
