import { render } from 'preact';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { App } from './app.js';
import { LiveEvents } from './events.js';

render(<App events={new LiveEvents()} />, document.getElementById('app')!);
