package ui

// uPlot (https://github.com/leeoniya/uPlot, MIT) draws the dashboard's
// charts: small (50 KB minified), no dependencies, canvas-based, fast with
// thousands of points, and kept up to date. package-lock.json pins it; this copies the ES
// module build and its stylesheet into assets/common/vendor, where they
// are committed.
//go:generate npm ci --ignore-scripts --no-audit --no-fund
//go:generate cp node_modules/uplot/dist/uPlot.esm.js assets/common/vendor/uPlot.esm.js
//go:generate cp node_modules/uplot/dist/uPlot.min.css assets/common/vendor/uPlot.min.css
//go:generate cp node_modules/uplot/LICENSE assets/common/vendor/uPlot.LICENSE
