import { latency, median, parsePrometheus } from '../bench/measure';

/** The benchmarks' arithmetic: the figures the issue's targets are judged by. */
describe('benchmark figures', () => {
  it('the median of an odd count is the middle value, of an even count the mean of the two middle ones', () => {
    expect(median([0.73, 0.63, 0.66])).toBe(0.66);
    expect(median([0.7, 0.6, 0.9, 0.8])).toBe(0.75);
    expect(median([0.5])).toBe(0.5);
  });

  it('percentiles are of the sorted samples, whatever their order', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 .. 1
    expect(latency(samples)).toEqual({ count: 100, p50Ms: 50, p95Ms: 95, p99Ms: 99 });
  });
});

describe('parsePrometheus', () => {
  it('reads NaN and Inf in any letter case, as Prometheus does, and refuses what is not a sample', () => {
    const samples = parsePrometheus('# HELP a a gauge\na Nan\nb{le="+Inf"} +Inf\nc -inf\nd{x="y"} 1.5e3 1700000000\n');
    expect(samples.map((s) => [s.name, s.value])).toEqual([['a', NaN], ['b', Infinity], ['c', -Infinity], ['d', 1500]]);
    expect(samples[3]?.labels).toEqual({ x: 'y' });
    expect(() => parsePrometheus('e twelve')).toThrow(/not Prometheus text: e twelve/);
  });
});
