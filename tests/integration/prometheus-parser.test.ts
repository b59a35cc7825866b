/** The test oracle for /metrics (tests/support/prometheus.ts) accepts valid exposition text and refuses the rest. */
import { describe, expect, it } from '@jest/globals';
import { parsePrometheusText, Scrape } from '../support/prometheus.js';

const VALID = `# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000
# A plain comment
msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9
# TYPE lag gauge
lag{service="api"} Nan
# HELP d A histogram.
# TYPE d histogram
d_bucket{route="/a",le="0.05"} 1
d_bucket{route="/a",le="+Inf"} 3
d_sum{route="/a"} 0.7
d_count{route="/a"} 3
d_bucket{route="/b",le="0.05"} 0
d_bucket{route="/b",le="+Inf"} 2
d_sum{route="/b"} 1.5
d_count{route="/b"} 2
`;

describe('the Prometheus text parser used by the tests', () => {
  it('reads counters, escaped label values, NaN and labelled histograms', () => {
    const families = parsePrometheusText(VALID);
    const scrape = new Scrape(families);
    expect(scrape.value('http_requests_total')).toBe(1030);
    expect(scrape.family('msdos_file_access_time_seconds').samples[0]!.labels).toEqual({ path: 'C:\\DIR\\FILE.TXT', error: 'Cannot find file:\n"FILE.TXT"' });
    expect(scrape.family('lag').samples[0]!.value).toBeNaN();
    expect(scrape.value('d')).toBe(5);
    expect(scrape.value('d', { route: '/b' })).toBe(2);
    expect(scrape.seriesCount('d')).toBe(2);
  });

  const invalid: Array<[string, string]> = [
    ['no trailing newline', 'a 1'],
    ['bad metric name', '1a 1\n'],
    ['bad value', 'a one\n'],
    ['unquoted label value', 'a{b=c} 1\n'],
    ['unterminated label value', 'a{b="c} 1\n'],
    ['bad escape', 'a{b="\\x"} 1\n'],
    ['duplicate label', 'a{b="1",b="2"} 1\n'],
    ['duplicate series', 'a{b="1"} 1\na{b="1"} 2\n'],
    ['family split in two groups', 'a 1\nb 1\na{x="y"} 2\n'],
    ['TYPE after samples', 'a 1\n# TYPE a counter\n'],
    ['unknown type', '# TYPE a meter\n'],
    ['negative counter', '# TYPE a counter\na -1\n'],
    ['histogram without +Inf', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    ['histogram count differs', '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n'],
    ['histogram not cumulative', '# TYPE h histogram\nh_bucket{le="1"} 3\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n'],
  ];
  it.each(invalid)('refuses %s', (_, text) => {
    expect(() => parsePrometheusText(text)).toThrow();
  });
});
