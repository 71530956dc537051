/** The bundles benchmark's baseline: a handler that loads nothing. */
export const handler = async () => ({ statusCode: 200, body: 'hello' });
