// A clock that runs fast, for one broker process (`node --import` it). "This host's clock is an
// hour off" cannot be caused for real on a shared machine without moving every other process's
// clock too, so only this process sees Date shifted by SALLYPORT_TEST_CLOCK_OFFSET_MS: a fake
// for a fault, and the test that uses it says so.
const offset = Number(process.env.SALLYPORT_TEST_CLOCK_OFFSET_MS ?? 0);
const RealDate = Date;
class ShiftedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + offset);
    else super(...args);
  }
  static now() {
    return RealDate.now() + offset;
  }
}
globalThis.Date = ShiftedDate;
