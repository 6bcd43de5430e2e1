export { Detector, type DetectorConfig } from './detector.js';
export { StreamDetector } from './stream.js';
export { saysNothing } from './event-text.js';
export { LzWindow, type CompressionCost } from './lz-window.js';
export { maskVolatile, unmask } from './mask.js';
export { TemplateMiner } from './drain.js';
export { ScoreCalibrator } from './calibration.js';
export { ANOMALY_KINDS, PROFILES, type Anomaly, type AnomalyKind, type DetectorInput, type DetectorOptions, type Profile } from './types.js';
export { compressorCorrelation } from './correlation.js';
