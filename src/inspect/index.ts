/**
 * The live inspector (`authchart app-server --inspect`). Loaded only through a dynamic import when the
 * flag is given, so without it nothing here (nor `ws`, nor the Graphviz WASM) is ever loaded.
 */
export { INSPECTOR_HOST, InspectorStartError, startInspector, type Inspector, type InspectorOptions, type ViewerMessage } from './server';
export { InspectionRecorder, activeStateIds, type InspectorState, type InspectorStep, type StepTransition } from './recorder';
export { safeView } from './projection';
