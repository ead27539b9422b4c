/** Stylesheets imported by the dashboard's modules: esbuild bundles them into app.css. */
declare module '*.css';
