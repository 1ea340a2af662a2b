// Number and time formatting for the pages.

const nf = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

export function num(n) {
  return n === null || n === undefined || Number.isNaN(n) ? '–' : nf.format(n);
}

export function pct(ratio) {
  return ratio === null || ratio === undefined || Number.isNaN(ratio) ? '–' : nf.format(ratio * 100) + ' %';
}

// ms formats seconds as milliseconds.
export function ms(seconds) {
  return seconds === null || seconds === undefined || Number.isNaN(seconds) ? '–' : nf.format(seconds * 1000) + ' ms';
}

export function time(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

// isoDate is the UTC YYYY-MM-DD of d.
export function isoDate(d) {
  return d.toISOString().slice(0, 10);
}
