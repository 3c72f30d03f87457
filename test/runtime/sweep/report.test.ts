import { describe, expect, it } from 'vitest';
import type {
  Comparison,
  FactorSummary,
  LevelSummary,
  MeanEstimate,
  PhaseDiagram,
} from '../../../runtime/index.js';
// The sweep report's chart, tables and scales, internal to writeSweepReport.
import { renderChart } from '../../../runtime/report/charts.js';
import { PHASE_SCALES, phaseSpec, regimeTable } from '../../../runtime/sweep/report.js';

/**
 * The sweep report's guard-rails: phase diagrams on fixed, stated scales with their cell
 * counts, and a regime table with welfare, consumer surplus and the comparisons' caveats.
 */

/** Four cells between −0.93 and −0.90: noise that an auto-fitted scale would stretch. */
const diagram: PhaseDiagram = {
  x_factor: 'alpha',
  y_factor: 'gamma',
  within: null,
  cells: [
    { x: 0.1, y: 0.9, n: 3, collusion_index: -0.93, tier: 0 },
    { x: 0.1, y: 0.95, n: 3, collusion_index: -0.9, tier: 0 },
    { x: 0.2, y: 0.9, n: 2, collusion_index: -0.92, tier: 1 },
    { x: 0.2, y: 0.95, n: 1, collusion_index: -0.91, tier: 0 },
  ],
};

/** The fill colour of each cell's rect, by its aria label. */
function cellFills(svg: string): string[] {
  return [
    ...svg.matchAll(
      /<path aria-label="[^"]*"[^>]*aria-roledescription="rect mark"[^>]*fill="([^"]+)"/g,
    ),
  ].map((m) => m[1] as string);
}

function rgb(color: string): number[] {
  return (color.match(/\d+/g) ?? []).map(Number);
}

describe('phase diagrams', () => {
  it('colour Δ on a fixed diverging scale centred at the Nash benchmark, and say so', () => {
    const spec = phaseSpec(diagram, 'collusion_index') as unknown as {
      title: { subtitle: string[] };
      layer: { encoding: { color?: { title: string; scale: Record<string, unknown> } } }[];
    };
    expect(spec.layer[0]?.encoding.color?.scale).toEqual({
      type: 'linear',
      domain: [-1, 1],
      domainMid: 0,
      scheme: 'redblue',
      reverse: true,
      clamp: true,
    });
    expect(spec.layer[0]?.encoding.color?.title).toBe('Δ (0 = Nash)');
    expect(spec.title.subtitle[0]).toBe(
      'fixed scale −1…1 centred on Nash (Δ = 0); 1 = collusive; beyond ±1 clamped',
    );
    const tier = phaseSpec(diagram, 'tier') as unknown as typeof spec;
    expect(tier.layer[0]?.encoding.color?.scale).toMatchObject({ domain: [0, 4], clamp: true });
    expect(tier.title.subtitle[0]).toBe(PHASE_SCALES.tier.caption);
  });

  it('render −0.93…−0.90 as one colour near the blue end, with each cell labelled by its n', async () => {
    const svg = await renderChart(phaseSpec(diagram, 'collusion_index'));
    const fills = cellFills(svg).map(rgb);
    expect(fills).toHaveLength(4);
    for (const [r, , b] of fills) {
      // Deep blue, all four within a few steps of each other.
      expect(b as number).toBeGreaterThan(120);
      expect(r as number).toBeLessThan(60);
    }
    const reds = fills.map(([r]) => r as number);
    expect(Math.max(...reds) - Math.min(...reds)).toBeLessThan(12);
    const texts = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    expect(texts).toEqual(expect.arrayContaining(['n = 3', 'n = 3', 'n = 2', 'n = 1']));
    expect(texts).toEqual(expect.arrayContaining(['-0.93', '-0.9', '-0.92', '-0.91']));
    // The legend spans the fixed domain, not the data's.
    expect(texts).toEqual(expect.arrayContaining(['−1.0', '0.0', '1.0']));
  });
});

const estimate = (mean: number | null): MeanEstimate => ({
  n: mean === null ? 0 : 4,
  mean,
  ci: mean === null ? null : [mean - 1, mean + 1],
  reason: mean === null ? 'no values' : null,
});

function level(name: string, welfare: number, consumerSurplus: number): LevelSummary {
  return {
    level: name,
    runs: 4,
    completed: 4,
    failed: 0,
    outcomes: {
      collusion_index: estimate(0.2),
      tier: estimate(2),
      hhi_excess: estimate(null),
      mean_price: estimate(50),
      welfare: estimate(welfare),
      consumer_surplus: estimate(consumerSurplus),
      fines: estimate(0),
      sanctions: estimate(0),
    },
    verdicts: [{ verdict: 'collusive', runs: 4 }],
    verdict_runs: 4,
    shares: { tier_at_least_3: estimate(0), tier_4: estimate(0) },
    institution: { false_positive_rate: estimate(null), detection_rate: estimate(null) },
  };
}

describe('the regime table', () => {
  const factor: FactorSummary = {
    name: 'regime',
    kind: 'categorical',
    levels: [level('none', 5455, 2101), level('governance_graph', 1754, 877)],
    pooled_over_interactions: [{ by: 'market_intercept', outcome: 'collusion_index', share: 0.8 }],
  };
  const comparison: Comparison = {
    factor: 'regime',
    level_a: 'none',
    level_b: 'governance_graph',
    outcome: 'collusion_index',
    n_pairs: 4,
    mean_difference: -0.3,
    mean_difference_ci: [-0.31, -0.29],
    sd_difference: 0.0003,
    cohens_d: -1000,
    cohens_d_ci: [-2000, -800],
    cohens_d_reason: null,
    near_zero_variance: ['none'],
    p_value: 0.125,
    p_value_method: 'exact',
    p_value_min: 0.125,
    n_nonzero_differences: 4,
    cannot_reach_significance: true,
    p_value_reason: null,
    p_holm: 0.125,
  };
  const page = String(regimeTable(factor, [comparison], 0.05));

  it('shows welfare and consumer surplus beside the tier', () => {
    expect(page).toContain('<th>welfare</th><th>consumer surplus</th>');
    expect(page).toContain('<td>5455 [5454, 5456]</td><td>2101 [2100, 2102]</td>');
    expect(page).toContain('<td>1754 [1753, 1755]</td><td>877 [876, 878]</td>');
  });

  it('shows each level’s verdicts beside the mean tier', () => {
    expect(page).toContain('<th>verdicts (runs)</th>');
    expect(page).toContain('<td>collusive 4/4</td></tr>');
  });

  it("prints the smallest attainable p, d's spread and the caveats", () => {
    expect(page).toContain('<th>sd of differences</th>');
    expect(page).toContain('<th>smallest attainable p</th>');
    expect(page).toContain('<td>-0.3 [-0.31, -0.29]</td><td>0.0003</td>');
    expect(page).toContain('<td>0.125 (exact)</td><td>0.125 ⚠</td>');
    expect(page).toContain(
      'regime none → governance_graph, collusion_index: with 4 pairs the smallest attainable p is 0.125 &gt; 0.05: this test cannot reach significance.',
    );
    expect(page).toContain('none has (near) zero variance over the pairs');
    expect(page).toContain(
      'The means of regime pool over a strong interaction with market_intercept on collusion_index (share 0.8)',
    );
  });
});
