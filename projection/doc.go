// Package projection folds events into views: read models fed by the
// global feed, each with a checkpoint stored atomically with its view and
// rebuildable from zero.
package projection
