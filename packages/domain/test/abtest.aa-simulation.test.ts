/**
 * A/A simulation: both arms draw from the same population, so every "significant" result is a
 * false positive, and a correct test at α = 0.05 has a false-positive rate of about 5 %.
 *
 * Users differ a lot, as an LLM router's users do: a user's request count is geometric with a
 * lognormal mean (from 1 to hundreds of requests), and each user has their own mean latency,
 * success probability and cost level. Requests of one user are therefore correlated, and a test
 * that treats requests as independent (naive request-level Welch) underestimates its standard
 * error; the user-level delta-method test, whose unit is the randomized unit (the user), holds
 * its level.
 *
 * Everything is seeded (mulberry32), so the rates below are the same on every run.
 */
import {
  addRatioUser as addUser,
  deltaMethodTest,
  emptyRatioSums,
  type MomentSums,
  type RatioSums,
  twoProportionZTest,
  welchTTest,
  seededRandom,
} from '../src/index.js';

// Local bindings: under jest's vm context each global lookup (Math.*) in a hot loop is slow.
const { exp, log, sqrt, cos, sin, floor, PI } = Math;

/** Standard normal draws by Box–Muller (both outputs used). */
function normalSource(random: () => number): () => number {
  let spare = 0;
  let hasSpare = false;
  return () => {
    if (hasSpare) {
      hasSpare = false;
      return spare;
    }
    const r = sqrt(-2 * log(1 - random())); // 1 − u ∈ (0, 1]: no log(0)
    const theta = 2 * PI * random();
    spare = r * sin(theta);
    hasSpare = true;
    return r * cos(theta);
  };
}

const USERS_PER_RUN = 2000;
const RUNS = 2000;
const ALPHA = 0.05;

// Population (identical for both arms).
const EXTRA_REQUESTS_LOG_MEAN = log(5); // a user's mean request count is 1 + lognormal(log 5, 1.2)
const EXTRA_REQUESTS_LOG_SD = 1.2;
const USER_LATENCY_LOG_MEAN = log(800); // user mean latency: lognormal, median 800 ms
const USER_LATENCY_LOG_SD = 0.6;
const REQUEST_LATENCY_LOG_SD = 0.4; // request noise around the user's mean (mean-one lognormal)
const USER_SUCCESS_LOGIT_MEAN = 2.2; // user success probability: logistic(N(2.2, 1.2²)), ~0.87 on average
const USER_SUCCESS_LOGIT_SD = 1.2;
const USER_COST_LOG_MEAN = log(0.002);
const USER_COST_LOG_SD = 0.8;
const REQUEST_COST_LOG_SD = 0.5;

interface Arm {
  latency: MomentSums;
  cost: MomentSums;
  requests: number;
  successes: number;
  userLatency: RatioSums;
  userCost: RatioSums;
  userSuccess: RatioSums;
}

function emptyArm(): Arm {
  return {
    latency: { n: 0, sum: 0, sum_sq: 0 },
    cost: { n: 0, sum: 0, sum_sq: 0 },
    requests: 0,
    successes: 0,
    userLatency: emptyRatioSums(),
    userCost: emptyRatioSums(),
    userSuccess: emptyRatioSums(),
  };
}


/** One A/A experiment: USERS_PER_RUN users split 50/50 at random, all from one population. */
function simulateRun(random: () => number, normal: () => number): [Arm, Arm] {
  const arms: [Arm, Arm] = [emptyArm(), emptyArm()];
  const latNoiseShift = (REQUEST_LATENCY_LOG_SD * REQUEST_LATENCY_LOG_SD) / 2;
  const costNoiseShift = (REQUEST_COST_LOG_SD * REQUEST_COST_LOG_SD) / 2;
  for (let u = 0; u < USERS_PER_RUN; u++) {
    const arm = arms[random() < 0.5 ? 0 : 1];
    const meanExtra = exp(EXTRA_REQUESTS_LOG_MEAN + EXTRA_REQUESTS_LOG_SD * normal());
    // Geometric on {1, 2, …} with mean 1 + meanExtra: failures before a success with p = 1/(1 + m).
    const n = 1 + floor(log(1 - random()) / log(meanExtra / (1 + meanExtra)));
    const userLatency = exp(USER_LATENCY_LOG_MEAN + USER_LATENCY_LOG_SD * normal());
    const userSuccess = 1 / (1 + exp(-(USER_SUCCESS_LOGIT_MEAN + USER_SUCCESS_LOGIT_SD * normal())));
    const userCost = exp(USER_COST_LOG_MEAN + USER_COST_LOG_SD * normal());
    let latSum = 0;
    let latSq = 0;
    let costSum = 0;
    let costSq = 0;
    let ok = 0;
    for (let r = 0; r < n; r++) {
      const lat = userLatency * exp(REQUEST_LATENCY_LOG_SD * normal() - latNoiseShift);
      const cost = userCost * exp(REQUEST_COST_LOG_SD * normal() - costNoiseShift);
      latSum += lat;
      latSq += lat * lat;
      costSum += cost;
      costSq += cost * cost;
      if (random() < userSuccess) ok++;
    }
    arm.latency.n += n;
    arm.latency.sum += latSum;
    arm.latency.sum_sq += latSq;
    arm.cost.n += n;
    arm.cost.sum += costSum;
    arm.cost.sum_sq += costSq;
    arm.requests += n;
    arm.successes += ok;
    addUser(arm.userLatency, n, latSum);
    addUser(arm.userCost, n, costSum);
    addUser(arm.userSuccess, n, ok);
  }
  return arms;
}

describe('A/A simulation: false-positive rates at α = 0.05', () => {
  it(`the user-level test holds its level over ${RUNS} runs of ${USERS_PER_RUN} heterogeneous users; request-level Welch does not`, () => {
    const random = seededRandom(20240601);
    const normal = normalSource(random);
    const hits = { userLatency: 0, userCost: 0, userSuccess: 0, reqLatency: 0, reqCost: 0, reqSuccess: 0 };
    let requests = 0;
    for (let run = 0; run < RUNS; run++) {
      const [a, b] = simulateRun(random, normal);
      requests += a.requests + b.requests;
      if (deltaMethodTest(a.userLatency, b.userLatency, ALPHA).significant) hits.userLatency++;
      if (deltaMethodTest(a.userCost, b.userCost, ALPHA).significant) hits.userCost++;
      if (deltaMethodTest(a.userSuccess, b.userSuccess, ALPHA).significant) hits.userSuccess++;
      if (welchTTest(a.latency, b.latency, ALPHA).significant) hits.reqLatency++;
      if (welchTTest(a.cost, b.cost, ALPHA).significant) hits.reqCost++;
      if (twoProportionZTest({ n: a.requests, successes: a.successes }, { n: b.requests, successes: b.successes }, ALPHA).significant) hits.reqSuccess++;
    }
    const rate = (k: number) => k / RUNS;
    const pct = (k: number) => `${(100 * rate(k)).toFixed(2)} %`;
    // Monte Carlo standard error of a rate near 5 % over RUNS runs: √(0.05·0.95/RUNS) ≈ 0.49 %.
    console.log(
      [
        `A/A simulation: ${RUNS} runs × ${USERS_PER_RUN} users, ${(requests / RUNS).toFixed(0)} requests per run on average, α = ${ALPHA}`,
        `  user-level (delta method):  latency ${pct(hits.userLatency)}, cost/request ${pct(hits.userCost)}, success rate ${pct(hits.userSuccess)}`,
        `  request-level (naive):      latency ${pct(hits.reqLatency)} (Welch), cost/request ${pct(hits.reqCost)} (Welch), success rate ${pct(hits.reqSuccess)} (pooled z)`,
      ].join('\n'),
    );
    expect(requests / RUNS).toBeGreaterThan(15_000); // many requests per user on average
    for (const k of [hits.userLatency, hits.userCost, hits.userSuccess]) {
      expect(rate(k)).toBeGreaterThanOrEqual(0.03);
      expect(rate(k)).toBeLessThanOrEqual(0.07);
    }
    expect(rate(hits.reqLatency)).toBeGreaterThan(0.07);
  });
});
