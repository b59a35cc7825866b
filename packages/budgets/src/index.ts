export { budgetKeys } from './keys.js';
export { SpendCounters, type SpendTotalInput } from './spend-counters.js';
export { type BudgetSpendNotice, budgetSpendNoticeSchema, publishBudgetSpend, subscribeBudgetSpend } from './state-channel.js';
export { BudgetReservations, type ReservationBudget, type ReserveResult } from './reservations.js';
