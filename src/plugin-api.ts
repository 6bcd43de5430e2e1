/**
 * What a plugin receives: the same helpers the built-in components are written with. A plugin module's
 * default export is a function `(api) => ComponentDefinition[]` (or the array itself).
 */
import { z } from 'zod';
import { ackBatch, Finalizer, releaseAll, retainAll } from './engine/acknowledgement.js';
import { defineInput, defineOutput, defineTransform } from './engine/component.js';
import { bodyText, createEvent } from './engine/event.js';
import { byteSize, duration, secret } from './config/schema.js';

export const pluginApi = {
  z,
  defineInput,
  defineTransform,
  defineOutput,
  ackBatch,
  releaseAll,
  retainAll,
  Finalizer,
  createEvent,
  bodyText,
  duration,
  byteSize,
  secret,
};

export type PluginApi = typeof pluginApi;
export type { Batch, AckStatus } from './engine/acknowledgement.js';
export type { LogEvent, Attributes, AttributeValue, EventSource } from './engine/event.js';
export type { ComponentDefinition, InputStage, TransformStage, OutputStage, Batches, InputContext, ComponentContext, BuildContext, ListenPort } from './engine/component.js';
