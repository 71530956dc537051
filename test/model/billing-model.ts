/**
 * An independent statement of what a customer owes, written from docs/billing-rules.md and
 * docs/usage-metering.md alone. It imports nothing from shared/: its calendar, rounding, rating and
 * lifecycle rules are re-derived here from the prose, so a test comparing the service with it checks
 * the service against the documents, not against its own formulas.
 *
 * One model holds one customer (several subscriptions, one after another or at once) and replays
 * the steps a lifecycle test drives through the real use cases, saying for each step whether it
 * must be accepted and, at the end, what every invoice must contain.
 */

export type Timing = 'in_advance' | 'in_arrears';
export type Interval = 'month' | 'year';

/** A plan of the model's catalog: its fee (sum of its flat prices) and its one usage price. */
export type ModelPlan = {
  key: string;
  name: string;
  fee: number;
  timing: Timing;
  interval: Interval;
  /** Per-unit price of the metric, a decimal string in minor units ("0.04"). */
  unit: string;
  budget: number;
  /** Progressive billing: amounts of the period's rated usage at which its usage so far is invoiced. */
  invoiceAt?: number[];
};

export type Behavior = 'create_prorations' | 'always_invoice' | 'none';

/** An add-on plan: a monthly fee per unit of quantity, no usage price of its own. */
export type ModelAddOn = { key: string; name: string; fee: number; timing: Timing };

export type Step =
  | { kind: 'subscribe'; at: number; plan: string; trialDays: number }
  | { kind: 'usage'; at: number; sub: number; timestamp: number; quantity: number; key: string }
  | { kind: 'change_plan'; at: number; sub: number; plan: string; behavior: Behavior }
  /** Sets an add-on's quantity on a subscription: from 0 it is added, to 0 removed. */
  | { kind: 'set_add_on'; at: number; sub: number; addOn: string; quantity: number; behavior: Behavior }
  | { kind: 'budget'; at: number; sub: number; amount: number }
  | { kind: 'cancel_now'; at: number; sub: number; prorate: boolean }
  | { kind: 'cancel_at_period_end'; at: number; sub: number; value: boolean }
  | { kind: 'reprice'; at: number; plan: string; fee: number }
  /** A one-time price (a key of the model's one-time catalog) added to a subscription's next invoice. */
  | { kind: 'one_time_item'; at: number; sub: number; product: string; quantity: number }
  /** A one-off invoice of one-time prices, for no subscription. */
  | { kind: 'one_off'; at: number; items: { product: string; quantity: number }[] }
  /** The threshold invoicer looks at a subscription now (as usage.threshold_reached makes it do). */
  | { kind: 'threshold'; at: number; sub: number }
  | { kind: 'close'; at: number }
  | { kind: 'finalize_all'; at: number }
  | { kind: 'pay_all'; at: number }
  /** A credit note for the whole of one finalized invoice (`pick`: which, in the order finalized). */
  | { kind: 'credit_note'; at: number; pick: number };

/** What a step must answer: done, or refused (409 a state conflict, 422/409 a usage refusal). */
export type Expected = { ok: true } | { ok: false; why: string };

export type ModelLine = {
  kind:
    | 'subscription_fee'
    | 'usage'
    | 'proration'
    | 'one_time'
    | 'threshold_usage'
    | 'threshold_credit'
    | 'discount';
  amount: number;
  /** The plan of a fee or proration line; for usage, the plan whose price rated it; one_time: the price's key. */
  plan: string;
  from: number;
  to: number;
  quantity: string | null;
};

export type ModelInvoice = {
  /** Null for a one-off invoice: it belongs to no subscription. */
  sub: number | null;
  reason:
    | 'subscription_create'
    | 'subscription_cycle'
    | 'subscription_update'
    | 'subscription_cancel'
    | 'subscription_threshold'
    | 'manual';
  /** A threshold invoice's threshold. */
  threshold?: number;
  periodStart: number;
  periodEnd: number;
  billsUsage: boolean;
  /** Lines fixed when drafted (fees, prorations, pending items); usage lines come at finalization. */
  fixed: ModelLine[];
  usage: ModelLine[];
  status: 'draft' | 'open' | 'paid';
  total: number;
  /** Its lines' taxes (docs/invoicing.md, "Tax"), 0 until finalized. */
  tax: number;
  creditApplied: number;
  creditedToBalance: number;
  amountDue: number;
  amountPaid: number;
  /** Position in the customer's sequence (1, 2, …), once finalized. */
  sequence: number | null;
  /** What credit notes took off what was due, and gave back beyond it (to the credit balance). */
  preCredited: number;
  postCredited: number;
  creditNotes: number;
  /** What a credit note of the whole invoice gives back (set when finalized). */
  creditable: number;
  dueAt: number | null;
  next: { start: number; end: number } | null;
};

type Pending = {
  kind: 'subscription_fee' | 'proration' | 'one_time';
  amount: number;
  plan: string;
  from: number;
  to: number;
  quantity?: string | null;
};

/** A fee as it was when a stretch of time began to be billed with it. */
type BilledFee = { key: string; fee: number; timing: Timing };

/**
 * The timeline oracle: a stretch of one period billed with one fee, and how far it is owed. Owed is
 * stated per period, from what was in effect when (docs: "what is owed for the period is A's segment
 * up to t and B's segment from t, nothing twice"), not from the credits and charges of each event.
 */
type Piece = { period: { start: number; end: number }; fee: number; from: number; owedTo: number };

/** What bills one fee in the current period: the base plan, or an add-on. */
type FeeHolder = {
  /** When the billed fee began in the current period. */
  since: number;
  /** Whether the billed fee for [since, end) was invoiced in advance. */
  prepaid: boolean;
  /** The fee billed for [since, end): as it was when that stretch began (after `none`, the old one). */
  billed: BilledFee;
  /** The timeline piece of [since, …) in the current period; null in a trial. */
  piece: Piece | null;
};

/** An add-on on a subscription: quantity × its fee; quantity 0 when removed with `none` (billed to the period end). */
type AddOnHolder = FeeHolder & { key: string; quantity: number };

type ModelSubscription = FeeHolder & {
  plan: ModelPlan;
  status: 'trialing' | 'active' | 'past_due' | 'canceled';
  createdAt: number;
  trialEnd: number | null;
  anchor: number;
  interval: Interval;
  earlier: { anchor: number; interval: Interval; until: number }[];
  start: number;
  end: number;
  /** Add-ons, in the order added. */
  addOns: AddOnHolder[];
  cancelAtEnd: boolean;
  canceledAt: number | null;
  /** Plans before the current one, oldest first, each until it was changed. */
  earlierPlans: { key: string; until: number }[];
  /** The SmartGateway budget: no money depends on it, but a change to it is still a change. */
  budget: number;
  pending: Pending[];
  /** Usage per period start, per plan whose price rated it: exact quantity (integer units). */
  usage: Map<number, Map<string, bigint>>;
  /** Period starts whose invoice is finalized: closed to late usage. */
  closedToUsage: Set<number>;
};

const DAY = 86_400_000;
/** docs/usage-metering.md: records older than this, or further ahead than that, are refused. */
const MAX_LATENESS = 45 * DAY;
const MAX_AHEAD = 5 * 60_000;
const PAYMENT_TERMS = 7 * DAY;
/** docs/billing-rules.md, "One-time purchases": one item is at most 10^12 minor units. */
const MAX_ONE_TIME_ITEM = 10n ** 12n;

// ---- arithmetic, as the documents state it -----------------------------------------------------

/** Nearest integer of n/d, halves away from zero ("roundHalfUp"). */
function round(n: bigint, d: bigint): number {
  const negative = n < 0n;
  const m = negative ? -n : n;
  const q = (2n * m + d) / (2n * d);
  return Number(negative ? -q : q);
}

/** A decimal string as an exact fraction. */
function fraction(text: string): { n: bigint; d: bigint } {
  const [whole, part = ''] = text.split('.');
  return { n: BigInt(`${whole}${part}`), d: 10n ** BigInt(part.length) };
}

/** "n months (years) after the anchor, on the anchor's day or the last day of a shorter month". */
function monthsAfter(anchor: number, months: number): number {
  const a = new Date(anchor);
  const total = a.getUTCMonth() + months;
  const year = a.getUTCFullYear() + Math.floor(total / 12);
  const month = ((total % 12) + 12) % 12;
  const daysInMonth = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return Date.UTC(
    year,
    month,
    Math.min(a.getUTCDate(), daysInMonth),
    a.getUTCHours(),
    a.getUTCMinutes(),
    a.getUTCSeconds(),
    a.getUTCMilliseconds(),
  );
}

const after = (anchor: number, interval: Interval, n: number) =>
  monthsAfter(anchor, interval === 'year' ? 12 * n : n);

function periodOf(anchor: number, interval: Interval, at: number): { start: number; end: number } {
  let n = 0;
  while (after(anchor, interval, n + 1) <= at) n++;
  return { start: after(anchor, interval, n), end: after(anchor, interval, n + 1) };
}

/** docs: segment(fee, a, b) = round(fee × (b − start) / L) − round(fee × (a − start) / L). */
function segment(fee: number, period: { start: number; end: number }, a: number, b: number): number {
  const length = BigInt(period.end - period.start);
  const clamp = (t: number) => BigInt(Math.min(Math.max(t, period.start), period.end) - period.start);
  return round(BigInt(fee) * clamp(b), length) - round(BigInt(fee) * clamp(a), length);
}

/** docs: a per-unit price rates quantity × unit price, rounded once. */
function rate(plan: ModelPlan, quantity: bigint): number {
  const { n, d } = fraction(plan.unit);
  return round(quantity * n, d);
}

// ---- the model --------------------------------------------------------------------------------

/**
 * The customer's one tax rate, from docs/invoicing.md ("Tax"): a percentage in ten-thousandths of a
 * percent (8.875 % is 88750n), added on top or inside the prices.
 */
export type ModelTax = { units: bigint; inclusive: boolean };

/**
 * The customer's one coupon, redeemed for all its invoices when it is created (docs/invoicing.md,
 * "Discounts"): a percent (ten-thousandths of a percent) or an amount off, for `periods` billing
 * periods (null: forever; once is 1).
 */
export type ModelCoupon = { percentUnits: bigint | null; amountOff: number | null; periods: number | null };

export class BillingModel {
  readonly subscriptions: ModelSubscription[] = [];
  readonly invoices: ModelInvoice[] = [];
  /** The customer's credit balance (one currency). */
  balance = 0;
  /** Σ what credit notes gave back. */
  creditNotesTotal = 0;
  /** The billing periods the coupon has discounted: a subscription's period, or a one-off invoice. */
  private readonly discountedPeriods = new Set<string>();
  /** An amount-off coupon's amount used per billing period. */
  private readonly amountOffUsed = new Map<string, number>();
  private finalized = 0;
  /** Each plan's fee now: an operator may reprice a plan (archive its flat price, create another). */
  private readonly fees = new Map<string, number>();
  private readonly pieces: Piece[] = [];

  /** Σ quantity × unit price of every one-time purchase accepted: on invoices or pending. */
  oneTimeSold = 0;

  constructor(
    private readonly plans: Record<string, ModelPlan>,
    private readonly addOnPlans: Record<string, ModelAddOn> = {},
    /** The one-time prices: the price of one unit by key, minor units. */
    private readonly oneTime: Record<string, number> = {},
    private readonly taxRate: ModelTax | null = null,
    private readonly coupon: ModelCoupon | null = null,
  ) {
    for (const plan of Object.values(plans)) this.fees.set(plan.key, plan.fee);
  }

  /** A plan with its fee now. */
  private planNow(key: string): ModelPlan {
    return { ...this.plans[key]!, fee: this.fees.get(key)! };
  }

  private billedNow(plan: ModelPlan): BilledFee {
    return { key: plan.key, fee: this.fees.get(plan.key)!, timing: plan.timing };
  }

  /** The end of a subscription's current period (lifecycles step onto it exactly). */
  periodEndOf(sub: number): number | undefined {
    const s = this.subscriptions[sub];
    return s && s.status !== 'canceled' ? s.end : undefined;
  }

  apply(step: Step): Expected {
    switch (step.kind) {
      case 'subscribe':
        return this.subscribe(step.at, this.planNow(step.plan), step.trialDays);
      case 'usage':
        return this.usage(step);
      case 'change_plan':
        return this.patch(step.sub, step.at, (s) =>
          this.changePlan(s, step.at, this.planNow(step.plan), step.behavior),
        );
      case 'set_add_on':
        return this.patch(step.sub, step.at, (s) => this.setAddOn(s, step));
      case 'budget':
        // A budget change moves no money; like every change it is refused once canceled, unless it
        // asks for what is already there (nothing changes, nothing is refused).
        return this.patch(step.sub, step.at, (s) => {
          if (s.budget === step.amount) return ok();
          if (s.status === 'canceled') return refuse('canceled');
          s.budget = step.amount;
          return ok();
        });
      case 'cancel_now':
        return this.patch(step.sub, step.at, (s) => this.cancelNow(s, step.at, step.prorate));
      case 'cancel_at_period_end':
        return this.patch(step.sub, step.at, (s) => {
          if (s.cancelAtEnd === step.value) return ok();
          if (s.status === 'canceled') return refuse('canceled');
          s.cancelAtEnd = step.value;
          return ok();
        });
      case 'one_time_item':
        // Like a change, it first closes a period that has ended; a canceled subscription has no next invoice.
        return this.patch(step.sub, step.at, (s) => {
          if (s.status === 'canceled') return refuse('canceled');
          const item = this.oneTimeLine(step.product, step.quantity, step.at);
          if (!item) return refuse('above 10^12');
          s.pending.push({ ...item, kind: 'one_time' });
          this.oneTimeSold += item.amount;
          return ok();
        });
      case 'one_off': {
        // Refused whole if one line is; otherwise finalized at once like any invoice.
        const lines = step.items.map((i) => this.oneTimeLine(i.product, i.quantity, step.at));
        if (lines.some((l) => l === undefined)) return refuse('above 10^12');
        const fixed = lines as ModelLine[];
        this.invoices.push(
          this.newInvoice(null, 'manual', { start: step.at, end: step.at }, false, fixed, null),
        );
        this.finalize(this.invoices[this.invoices.length - 1]!, step.at);
        this.oneTimeSold += fixed.reduce((sum, l) => sum + l.amount, 0);
        return ok();
      }
      case 'reprice':
        // Time already sold keeps its fee; the new fee bills what starts from now on.
        this.fees.set(step.plan, step.fee);
        return ok();
      case 'threshold':
        this.thresholdInvoice(step.sub, step.at);
        return ok();
      case 'close':
        this.closeAll(step.at);
        this.dunning(step.at);
        return ok();
      case 'finalize_all':
        for (const invoice of this.invoices) if (invoice.status === 'draft') this.finalize(invoice, step.at);
        return ok();
      case 'pay_all':
        for (const invoice of this.invoices) if (invoice.status === 'open') this.pay(invoice, step.at);
        return ok();
      case 'credit_note': {
        const invoice = this.creditNoteTarget(step.pick);
        return invoice ? this.creditWhole(invoice, step.at) : refuse('no finalized invoice');
      }
    }
  }

  // "Subscribe": the trial is its own first period, free of fees; otherwise the first period starts
  // now, and a plan billed in advance with a fee gets the subscribe invoice.
  private subscribe(at: number, plan: ModelPlan, trialDays: number): Expected {
    const trialEnd = trialDays > 0 ? at + trialDays * DAY : null;
    const subscription: ModelSubscription = {
      plan,
      status: trialEnd ? 'trialing' : 'active',
      createdAt: at,
      trialEnd,
      anchor: trialEnd ?? at,
      interval: plan.interval,
      earlier: [],
      start: at,
      end: trialEnd ?? after(at, plan.interval, 1),
      since: trialEnd ?? at,
      prepaid: !trialEnd && plan.timing === 'in_advance',
      billed: this.billedNow(plan),
      piece: null,
      addOns: [],
      cancelAtEnd: false,
      canceledAt: null,
      budget: plan.budget,
      earlierPlans: [],
      pending: [],
      usage: new Map(),
      closedToUsage: new Set(),
    };
    this.subscriptions.push(subscription);
    if (!trialEnd) this.startPiece(subscription, subscription);
    if (!trialEnd && plan.timing === 'in_advance' && plan.fee > 0) {
      this.draft(
        subscription,
        'subscription_create',
        { start: at, end: at },
        false,
        [feeLine(plan, subscription.start, subscription.end, plan.fee)],
        { start: subscription.start, end: subscription.end },
      );
    }
    return ok();
  }

  // Usage: counted in the period its timestamp falls in, rated with the price of the plan the
  // subscription is on when the record arrives; refused after a cancel, in a finalized period, or
  // too late / too early.
  private usage(step: Extract<Step, { kind: 'usage' }>): Expected {
    const s = this.subscriptions[step.sub]!;
    if (step.timestamp > step.at + MAX_AHEAD || step.timestamp < step.at - MAX_LATENESS)
      return refuse('timestamp');
    if (s.canceledAt !== null && step.timestamp >= s.canceledAt) return refuse('canceled');
    // Stamped ahead of the clock: it counts when it arrived.
    const counted = Math.min(step.timestamp, step.at);
    if (s.cancelAtEnd && counted >= s.end) return refuse('ends at period end');
    const period = this.usagePeriod(s, counted);
    if (!period) return refuse('no period');
    if (s.closedToUsage.has(period.start)) return refuse('period closed');
    // Rated with the plan the subscription was on then.
    const plan = s.earlierPlans.find((earlier) => counted < earlier.until)?.key ?? s.plan.key;
    const byPlan = s.usage.get(period.start) ?? new Map<string, bigint>();
    byPlan.set(plan, (byPlan.get(plan) ?? 0n) + BigInt(step.quantity));
    s.usage.set(period.start, byPlan);
    return ok();
  }

  private usagePeriod(s: ModelSubscription, at: number): { start: number; end: number } | undefined {
    if (at < s.createdAt) return undefined;
    if (s.trialEnd !== null && at < s.trialEnd) return { start: s.createdAt, end: s.trialEnd };
    if (at >= s.anchor) return periodOf(s.anchor, s.interval, at);
    for (const earlier of [...s.earlier].reverse()) {
      if (at < earlier.anchor || at >= earlier.until) continue;
      const p = periodOf(earlier.anchor, earlier.interval, at);
      return { start: p.start, end: Math.min(p.end, earlier.until) };
    }
    return at >= s.start && at < s.end ? { start: s.start, end: s.end } : undefined;
  }

  /** Every PATCH first closes a period that has ended (as the job would), then applies. */
  private patch(index: number, at: number, change: (s: ModelSubscription) => Expected): Expected {
    const s = this.subscriptions[index]!;
    this.closeDue(s, at);
    return change(s);
  }

  private changePlan(s: ModelSubscription, at: number, to: ModelPlan, behavior: Behavior): Expected {
    if (to.key === s.plan.key) return ok();
    if (s.status === 'canceled' || s.status === 'past_due') return refuse(s.status);
    // "All items bill in the subscription's interval": not while a monthly add-on is on it.
    if (to.interval !== 'month' && s.addOns.some((a) => a.quantity > 0)) return refuse('interval');
    s.earlierPlans.push({ key: s.plan.key, until: at });
    if (s.status === 'trialing') {
      // No proration in a trial; the new plan's rhythm applies from the trial's end.
      s.plan = to;
      s.interval = to.interval;
      return ok();
    }
    const period = { start: s.start, end: s.end };
    if (to.interval !== s.interval) {
      // Another interval: the period ends now, is billed at once, a new one starts anchored now.
      // With `none`, the prepaid time not used is not credited.
      const charges = this.endOfPlan(s, s, at, behavior !== 'none');
      // Add-ons removed but billed to the period's end end here too.
      for (const addOn of s.addOns) charges.push(...this.endOfPlan(s, addOn, at, behavior !== 'none'));
      s.addOns = [];
      const next = { start: at, end: after(at, to.interval, 1) };
      if (to.timing === 'in_advance' && to.fee > 0) charges.push(feeLine(to, next.start, next.end, to.fee));
      // Nothing of the period has passed when the change is at its very start: no usage to close.
      const billsUsage = at > s.start;
      const closed = { start: billsUsage ? s.start : at, end: at };
      this.draft(s, 'subscription_update', closed, billsUsage, charges, next, true);
      s.earlier.push({ anchor: s.anchor, interval: s.interval, until: at });
      Object.assign(s, {
        plan: to,
        interval: to.interval,
        anchor: at,
        start: next.start,
        end: next.end,
        since: at,
        prepaid: to.timing === 'in_advance',
        billed: this.billedNow(to),
      });
      this.startPiece(s, s);
      return ok();
    }
    s.plan = to;
    // `none`: nothing is prorated; the old fee stays billed to the period's end, the new from the next.
    if (behavior === 'none') return ok();
    const charges: ModelLine[] = this.endOfPlan(s, s, at, true);
    if (to.timing === 'in_advance') {
      const remaining = segment(to.fee, period, at, s.end);
      if (remaining !== 0) charges.push(line('proration', remaining, to.key, at, s.end));
    }
    s.since = at;
    s.prepaid = to.timing === 'in_advance';
    s.billed = this.billedNow(to);
    this.startPiece(s, s);
    this.bill(s, at, behavior, charges);
    return ok();
  }

  /** The charges of a change: on the next invoice, or on an invoice of their own now (`always_invoice`). */
  private bill(s: ModelSubscription, at: number, behavior: Behavior, charges: ModelLine[]): void {
    if (behavior === 'always_invoice') {
      this.draft(
        s,
        'subscription_update',
        { start: at, end: at },
        false,
        charges,
        { start: s.start, end: s.end },
        true,
      );
    } else {
      s.pending.push(...charges.map((c) => ({ ...c, kind: c.kind as Pending['kind'] })));
    }
  }

  // "Items": an add-on's quantity changes like a plan change of that item alone, from "q × fee" to
  // "q' × fee" (an added one from nothing, a removed one to nothing); with `none` nothing is
  // prorated: a removed add-on stays billed to the period's end, an added one bills from the next.
  private setAddOn(s: ModelSubscription, step: Extract<Step, { kind: 'set_add_on' }>): Expected {
    const { at, behavior, quantity } = step;
    const addOn = this.addOnPlans[step.addOn]!;
    const held = s.addOns.find((a) => a.key === addOn.key);
    if ((held?.quantity ?? 0) === quantity) return ok();
    if (s.status === 'canceled' || s.status === 'past_due') return refuse(s.status);
    if (s.interval !== 'month') return refuse('interval');
    const fee = (q: number): BilledFee => ({ key: addOn.key, fee: addOn.fee * q, timing: addOn.timing });
    if (s.status === 'trialing') {
      // Nothing is billed in a trial: the add-on bills from its end.
      s.addOns = s.addOns.filter((a) => a.key !== addOn.key && a.quantity > 0);
      if (quantity > 0)
        s.addOns.push({
          key: addOn.key,
          quantity,
          since: s.end,
          prepaid: false,
          billed: fee(quantity),
          piece: null,
        });
      return ok();
    }
    if (behavior === 'none') {
      if (held) {
        held.quantity = quantity;
        if (quantity === 0 && held.billed.fee === 0) s.addOns.splice(s.addOns.indexOf(held), 1);
      } else {
        s.addOns.push({ key: addOn.key, quantity, since: at, prepaid: false, billed: fee(0), piece: null });
        this.startPiece(s, s.addOns.at(-1)!);
      }
      return ok();
    }
    const charges = held ? this.endOfPlan(s, held, at, true) : [];
    if (quantity > 0 && addOn.timing === 'in_advance') {
      const remaining = segment(addOn.fee * quantity, { start: s.start, end: s.end }, at, s.end);
      if (remaining !== 0) charges.push(line('proration', remaining, addOn.key, at, s.end));
    }
    if (held) s.addOns.splice(s.addOns.indexOf(held), 1);
    if (quantity > 0) {
      const holder: AddOnHolder = {
        key: addOn.key,
        quantity,
        since: at,
        prepaid: addOn.timing === 'in_advance',
        billed: fee(quantity),
        piece: null,
      };
      // It keeps its place among the add-ons.
      s.addOns.push(holder);
      this.startPiece(s, holder);
    }
    this.bill(s, at, behavior, charges);
    return ok();
  }

  /** A holder's billed fee stops at `at`: its used time if billed in arrears, or a credit back. */
  private endOfPlan(s: ModelSubscription, h: FeeHolder, at: number, creditUnused: boolean): ModelLine[] {
    const period = { start: s.start, end: s.end };
    const { key, fee } = h.billed;
    // The timeline: prepaid time is owed to the end unless credited; time in arrears up to `at`.
    if (h.piece) h.piece.owedTo = h.prepaid && !creditUnused ? s.end : Math.max(at, h.since);
    h.piece = null;
    if (h.prepaid) {
      if (!creditUnused) return [];
      const credit = segment(fee, period, at, s.end);
      return credit === 0 ? [] : [line('proration', -credit, key, at, s.end)];
    }
    if (at <= h.since) return [];
    const used = segment(fee, period, h.since, at);
    return used === 0 ? [] : [line('subscription_fee', used, key, h.since, at)];
  }

  /** A new piece of the timeline: a holder's billed fee from `since`; prepaid time is owed to the end. */
  private startPiece(s: ModelSubscription, h: FeeHolder): void {
    const piece: Piece = {
      period: { start: s.start, end: s.end },
      fee: h.billed.fee,
      from: h.since,
      owedTo: h.prepaid ? s.end : h.since,
    };
    this.pieces.push(piece);
    h.piece = piece;
  }

  /** Every fee the subscription bills, base plan first: each ends at `at`. */
  private endOfAll(s: ModelSubscription, at: number, creditUnused: boolean): ModelLine[] {
    return [s, ...s.addOns].flatMap((h) => this.endOfPlan(s, h, at, creditUnused));
  }

  private cancelNow(s: ModelSubscription, at: number, prorate: boolean): Expected {
    if (s.status === 'canceled') return refuse('canceled');
    const charges = s.status === 'trialing' ? [] : this.endOfAll(s, at, prorate);
    // At the very start of a period nothing of it has passed: there is no usage to close.
    this.draft(s, 'subscription_cancel', { start: s.start, end: at }, at > s.start, charges, null, true);
    s.status = 'canceled';
    s.canceledAt = at;
    s.cancelAtEnd = false;
    return ok();
  }

  private closeAll(at: number): void {
    for (const s of this.subscriptions) this.closeDue(s, at);
  }

  /** "For every subscription whose period has passed": one invoice per ended period, in order. */
  private closeDue(s: ModelSubscription, at: number): void {
    while (s.status !== 'canceled' && s.end <= at) {
      const period = { start: s.start, end: s.end };
      const trial = s.status === 'trialing';
      const charges: ModelLine[] = trial ? [] : this.endOfAll(s, s.end, false);
      if (s.cancelAtEnd) {
        this.draft(s, 'subscription_cycle', period, true, charges, null, true);
        s.status = 'canceled';
        s.canceledAt = s.end;
        s.cancelAtEnd = false;
        return;
      }
      const next = periodOf(s.anchor, s.interval, s.end);
      const plan = this.planNow(s.plan.key);
      if (plan.timing === 'in_advance' && plan.fee > 0)
        charges.push(feeLine(plan, next.start, next.end, plan.fee));
      // Each live add-on renews too; one removed (quantity 0) ends with the period.
      s.addOns = s.addOns.filter((a) => a.quantity > 0);
      for (const addOn of s.addOns) {
        const fee = this.addOnPlans[addOn.key]!.fee * addOn.quantity;
        const timing = this.addOnPlans[addOn.key]!.timing;
        if (timing === 'in_advance' && fee > 0)
          charges.push(line('subscription_fee', fee, addOn.key, next.start, next.end));
        Object.assign(addOn, {
          since: next.start,
          prepaid: timing === 'in_advance',
          billed: { key: addOn.key, fee, timing },
        });
      }
      this.draft(s, 'subscription_cycle', period, true, charges, next, true);
      if (trial) s.status = 'active';
      s.start = next.start;
      s.end = next.end;
      s.since = next.start;
      s.prepaid = plan.timing === 'in_advance';
      s.billed = this.billedNow(plan);
      this.startPiece(s, s);
      for (const addOn of s.addOns) this.startPiece(s, addOn);
    }
  }

  private draft(
    s: ModelSubscription,
    reason: ModelInvoice['reason'],
    period: { start: number; end: number },
    billsUsage: boolean,
    charges: ModelLine[],
    next: { start: number; end: number } | null,
    takesPending = false,
  ): void {
    const pending = takesPending ? s.pending.splice(0, s.pending.length) : [];
    const fixed = [
      ...pending.map((p) => ({
        ...line(p.kind, p.amount, p.plan, p.from, p.to),
        quantity: p.quantity ?? null,
      })),
      ...charges,
    ];
    this.invoices.push(
      this.newInvoice(this.subscriptions.indexOf(s), reason, period, billsUsage, fixed, next),
    );
  }

  /** "quantity × unit_amount", exact; undefined past the bound of one item. */
  private oneTimeLine(product: string, quantity: number, at: number): ModelLine | undefined {
    const amount = BigInt(this.oneTime[product]!) * BigInt(quantity);
    if (amount > MAX_ONE_TIME_ITEM) return undefined;
    return {
      kind: 'one_time',
      amount: Number(amount),
      plan: product,
      from: at,
      to: at,
      quantity: String(quantity),
    };
  }

  private newInvoice(
    sub: number | null,
    reason: ModelInvoice['reason'],
    period: { start: number; end: number },
    billsUsage: boolean,
    fixed: ModelLine[],
    next: { start: number; end: number } | null,
  ): ModelInvoice {
    return {
      sub,
      reason,
      periodStart: period.start,
      periodEnd: period.end,
      billsUsage,
      fixed,
      usage: [],
      status: 'draft',
      total: 0,
      tax: 0,
      creditApplied: 0,
      creditedToBalance: 0,
      amountDue: 0,
      amountPaid: 0,
      sequence: null,
      preCredited: 0,
      postCredited: 0,
      creditNotes: 0,
      creditable: 0,
      dueAt: null,
      next,
    };
  }

  /** The finalized invoice a credit note step names, in the order finalized; undefined if none is. */
  creditNoteTarget(pick: number): ModelInvoice | undefined {
    const finalized = this.invoices
      .filter((i) => i.sequence !== null)
      .sort((a, b) => a.sequence! - b.sequence!);
    return finalized.length === 0 ? undefined : finalized[pick % finalized.length];
  }

  /**
   * "Credit notes": crediting the whole invoice gives back what its lines billed, prepaid time
   * aside, less what earlier notes gave back: refused when that is nothing, or more than is left
   * of the invoice's total; first off what is still due, the rest to the credit balance; an open
   * invoice left with nothing due is paid.
   */
  private creditWhole(invoice: ModelInvoice, at: number): Expected {
    const credited = invoice.preCredited + invoice.postCredited;
    const left = invoice.creditable - credited;
    if (left <= 0) return refuse('nothing left to credit');
    if (left > invoice.total - credited) return refuse('more than the total (its prepaid credits aside)');
    const pre = Math.min(left, invoice.status === 'paid' ? 0 : invoice.amountDue);
    invoice.amountDue -= pre;
    invoice.preCredited += pre;
    invoice.postCredited += left - pre;
    invoice.creditNotes++;
    this.balance += left - pre;
    this.creditNotesTotal += left;
    if (invoice.status === 'open' && invoice.amountDue === 0) {
      invoice.status = 'paid';
      if (invoice.sub !== null) this.reconcile(this.subscriptions[invoice.sub]!, at);
    }
    return ok();
  }

  // "Usage thresholds": while a period runs, once its usage rated so far has passed a threshold of the
  // plan above every threshold invoiced in it, that usage is invoiced at once, per plan that rated it
  // less what the period's earlier threshold invoices billed for it, and finalized. Jumping past
  // several thresholds invoices once, for the highest. Nothing is invoiced once the period has ended.
  private thresholdInvoice(sub: number, at: number): void {
    const s = this.subscriptions[sub]!;
    if (s.status === 'canceled' || at >= s.end) return;
    const usage = s.usage.get(s.start) ?? new Map<string, bigint>();
    const rated = [...usage].map(([planKey, quantity]) => ({
      planKey,
      quantity,
      amount: rate(this.plans[planKey]!, quantity),
    }));
    const spend = rated.reduce((sum, r) => sum + r.amount, 0);
    const passed = (s.plan.invoiceAt ?? []).filter((amount) => amount <= spend);
    const earlier = this.thresholdInvoicesOf(sub, s.start);
    const highestInvoiced = Math.max(0, ...earlier.map((i) => i.threshold ?? 0));
    if (passed.length === 0 || Math.max(...passed) <= highestInvoiced) return;
    const billed = (planKey: string) =>
      earlier
        .flatMap((i) => i.fixed)
        .filter((l) => l.plan === planKey)
        .reduce((sum, l) => sum + l.amount, 0);
    const lines: ModelLine[] = rated
      .map((r) => ({
        kind: 'threshold_usage' as const,
        amount: r.amount - billed(r.planKey),
        plan: r.planKey,
        from: s.start,
        to: at,
        quantity: r.quantity.toString(),
      }))
      .filter((l) => l.amount !== 0);
    if (lines.reduce((sum, l) => sum + l.amount, 0) <= 0) return;
    const invoice = this.newInvoice(
      sub,
      'subscription_threshold',
      { start: s.start, end: at },
      false,
      lines,
      null,
    );
    invoice.threshold = Math.max(...passed);
    this.invoices.push(invoice);
    this.finalize(invoice, at);
  }

  private thresholdInvoicesOf(sub: number, periodStart: number): ModelInvoice[] {
    return this.invoices.filter(
      (i) => i.sub === sub && i.reason === 'subscription_threshold' && i.periodStart === periodStart,
    );
  }

  // "Finalizing": the period is closed to late usage, usage is rated from its final totals, the
  // invoice numbered next, the customer's credit used first, a negative total adds to the credit.
  private finalize(invoice: ModelInvoice, at: number): void {
    const s = invoice.sub === null ? undefined : this.subscriptions[invoice.sub];
    if (s && invoice.billsUsage) {
      s.closedToUsage.add(invoice.periodStart);
      const totals = s.usage.get(invoice.periodStart) ?? new Map<string, bigint>();
      invoice.usage = [...totals].map(([planKey, quantity]) => ({
        kind: 'usage' as const,
        amount: rate(this.plans[planKey]!, quantity),
        plan: planKey,
        from: invoice.periodStart,
        to: invoice.periodEnd,
        quantity: quantity.toString(),
      }));
      // What the period's threshold invoices billed is credited, one line each, by threshold.
      for (const earlier of this.thresholdInvoicesOf(invoice.sub!, invoice.periodStart).sort(
        (a, b) => (a.threshold ?? 0) - (b.threshold ?? 0),
      )) {
        const amount = -earlier.fixed.reduce((sum, l) => sum + l.amount, 0);
        if (amount === 0) continue;
        invoice.usage.push({
          ...line(
            'threshold_credit',
            amount,
            `credit@${earlier.periodEnd}`,
            invoice.periodStart,
            invoice.periodEnd,
          ),
        });
      }
    }
    const { total, tax, creditable } = this.discountedAndTaxed(invoice);
    invoice.tax = tax;
    invoice.creditable = creditable;
    const creditApplied = Math.min(this.balance, Math.max(total, 0));
    invoice.total = total;
    invoice.creditApplied = creditApplied;
    invoice.creditedToBalance = Math.max(-total, 0);
    invoice.amountDue = Math.max(total, 0) - creditApplied;
    this.balance = this.balance - creditApplied + invoice.creditedToBalance;
    invoice.sequence = ++this.finalized;
    invoice.dueAt = at + PAYMENT_TERMS;
    invoice.status = 'open';
    // "An invoice with nothing due is paid when it is finalized."
    if (invoice.amountDue === 0) this.pay(invoice, at);
  }

  /**
   * "Discounts": the coupon, while its duration has the invoice's billing period, takes its percent
   * (rounded half away from zero) or its amount (at most all) of the lines net of credits, never
   * below zero; a discount above zero uses the period. "Tax": each charge line is taxed on its
   * amount less its share of the discount (in proportion, the leftover units to the largest
   * fractions, ties to the earlier line), each line's tax rounded once; exclusive tax is added.
   */
  private discountedAndTaxed(invoice: ModelInvoice): { total: number; tax: number; creditable: number } {
    const lines = [...invoice.fixed, ...invoice.usage];
    const net = lines.reduce((sum, l) => sum + l.amount, 0);
    // "A billing period": the period an invoice closes, or the one an invoice of no length opens
    // or is made in; a one-off invoice alone.
    const instant = invoice.periodStart === invoice.periodEnd && invoice.next !== null;
    const period =
      invoice.sub === null
        ? `one-off ${this.invoices.indexOf(invoice)}`
        : `${invoice.sub} ${instant ? invoice.next!.start : invoice.periodStart}`;
    // "Only what is never credited back": usage, one-time purchases, fees for time already past.
    // Not on a threshold invoice: the close discounts the period's whole usage.
    const discountable = (l: ModelLine) =>
      invoice.reason !== 'subscription_threshold' &&
      (l.kind === 'usage' ||
        l.kind === 'one_time' ||
        (l.kind === 'subscription_fee' && l.from < invoice.periodEnd));
    const base = lines.reduce((sum, l) => sum + (discountable(l) ? l.amount : 0), 0);
    let discount = 0;
    const c = this.coupon;
    if (
      c &&
      (this.discountedPeriods.has(period) || c.periods === null || this.discountedPeriods.size < c.periods)
    ) {
      discount =
        c.percentUnits !== null
          ? Number(halfUp(BigInt(base) * c.percentUnits, 1_000_000n))
          : // "An amount off is off once per period": what earlier invoices of the period left of it.
            Math.min(base, c.amountOff! - (this.amountOffUsed.get(period) ?? 0));
      if (discount > 0) {
        if (c.amountOff !== null)
          this.amountOffUsed.set(period, (this.amountOffUsed.get(period) ?? 0) + discount);
        this.discountedPeriods.add(period);
        invoice.usage.push(line('discount', -discount, 'coupon', invoice.periodStart, invoice.periodEnd));
      }
    }
    // The discount's share of each discountable charge, in proportion exactly: floor of discount ×
    // amount / Σ, then one more unit to each of the largest remainders, ties to the earlier line.
    const targets = lines.filter((l) => discountable(l) && l.amount > 0);
    const whole = BigInt(targets.reduce((sum, l) => sum + l.amount, 0));
    const share = new Map<ModelLine, bigint>();
    if (discount > 0) {
      const size = BigInt(discount);
      const exact = targets.map((l) => size * BigInt(l.amount));
      targets.forEach((l, i) => {
        share.set(l, exact[i]! / whole);
      });
      let left = size - [...share.values()].reduce((a, b) => a + b, 0n);
      const order = targets
        .map((l, i) => ({ l, i, rest: exact[i]! % whole }))
        .sort((a, b) => (a.rest === b.rest ? a.i - b.i : a.rest > b.rest ? -1 : 1));
      for (const { l } of order) {
        if (left === 0n) break;
        share.set(l, share.get(l)! + 1n);
        left -= 1n;
      }
    }
    let tax = 0n;
    // "Credit notes": what a credit note can give back is what the lines billed (after their share
    // of the discount, with their tax), except prepaid time: fees billed in advance and prorations.
    let creditable = 0n;
    const t = this.taxRate;
    for (const l of lines) {
      const taxable = BigInt(l.amount) - (share.get(l) ?? 0n);
      const lineTax = !t
        ? 0n
        : t.inclusive
          ? halfUp(taxable * t.units, 1_000_000n + t.units)
          : halfUp(taxable * t.units, 1_000_000n);
      tax += lineTax;
      const prepaid =
        l.kind === 'proration' || (l.kind === 'subscription_fee' && l.from >= invoice.periodEnd);
      if (!prepaid && l.kind !== 'discount') creditable += taxable + (t && !t.inclusive ? lineTax : 0n);
    }
    const total = net - discount + (t && !t.inclusive ? Number(tax) : 0);
    return { total, tax: Number(tax), creditable: Number(creditable) };
  }

  private pay(invoice: ModelInvoice, at: number): void {
    invoice.status = 'paid';
    invoice.amountPaid = invoice.amountDue;
    // A one-off invoice has no subscription whose standing it changes.
    if (invoice.sub !== null) this.reconcile(this.subscriptions[invoice.sub]!, at);
  }

  /** Dunning: past_due while an open invoice is past its due date, active again once none is. */
  private dunning(at: number): void {
    for (const s of this.subscriptions) this.reconcile(s, at);
  }

  private reconcile(s: ModelSubscription, at: number): void {
    if (s.status !== 'active' && s.status !== 'past_due') return;
    const index = this.subscriptions.indexOf(s);
    const overdue = this.invoices.some(
      (i) => i.sub === index && i.status === 'open' && i.dueAt !== null && i.dueAt <= at,
    );
    s.status = overdue ? 'past_due' : 'active';
  }

  /** Σ of every invoice's total: what the invoices say is owed. */
  invoiced(): number {
    return this.invoices.reduce((sum, i) => sum + i.total, 0);
  }

  /** Fee and proration items waiting for a subscription's next invoice (one-time items aside). */
  pendingTotal(): number {
    return this.subscriptions.reduce(
      (sum, s) => sum + s.pending.reduce((t, p) => t + (p.kind === 'one_time' ? 0 : p.amount), 0),
      0,
    );
  }

  /**
   * The timeline oracle: the fees owed so far, stated per period from what was billed when, each
   * stretch as its segment, prepaid stretches to the end of their period unless credited, stretches
   * in arrears up to where they ended. Equal to the fee and proration lines invoiced plus those
   * still pending, if the credits and charges of every event add up to it.
   */
  feesOwed(): number {
    return this.pieces.reduce((sum, p) => sum + segment(p.fee, p.period, p.from, p.owedTo), 0);
  }

  /** The fee and proration lines invoiced so far (usage and one-time purchases aside). */
  feesInvoiced(): number {
    return this.invoices.reduce(
      (sum, i) => sum + i.fixed.reduce((t, l) => t + (isFee(l.kind) ? l.amount : 0), 0),
      0,
    );
  }
}

/** Fee and proration lines: what the timeline oracle accounts for (usage and one-time purchases aside). */
const isFee = (kind: ModelLine['kind']) => kind === 'subscription_fee' || kind === 'proration';

const ok = (): Expected => ({ ok: true });
const refuse = (why: string): Expected => ({ ok: false, why });

function line(kind: ModelLine['kind'], amount: number, plan: string, from: number, to: number): ModelLine {
  return { kind, amount, plan, from, to, quantity: null };
}

function feeLine(plan: ModelPlan, from: number, to: number, amount: number): ModelLine {
  return line('subscription_fee', amount, plan.key, from, to);
}

/** n / d rounded to the nearest whole, halves away from zero (d > 0). */
function halfUp(n: bigint, d: bigint): bigint {
  const magnitude = n < 0n ? -n : n;
  const q = (2n * magnitude + d) / (2n * d);
  return n < 0n ? -q : q;
}
