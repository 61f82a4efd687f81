// Crops of one camera frame, resized bilinearly, in the networks' input layout: the GPU twin of
// edge_tracker.preprocess.OpenCVPreprocessor (cv2.warpAffine, INTER_LINEAR, BORDER_CONSTANT).
//
// One launch cuts every window of a call (SCS-Siam's three search scales at once): blockIdx.z is
// the window, each thread one output pixel of it, all three channels.
//
// Mapping (edge_tracker/geometry.py, crop_square): output pixel (u, v) of a window samples the
// frame at x = step * u + x0, y = step * v + y0 in pixel-index coordinates (pixel centres on the
// integers, as OpenCV's), with step = side / size and x0 = cx - side/2 + step/2 - 1/2 computed on
// the host in double precision and rounded to float. Taps outside the frame read the pad value
// (the frame's mean colour), so borders blend into the padding the way BORDER_CONSTANT does.
//
// Arithmetic: every float operation is written as an explicitly rounded intrinsic (__fmul_rn,
// __fadd_rn, __fsub_rn), which nvcc never contracts into an FMA, so the result is bit for bit that
// of the numpy twin (edge_tracker/preprocess/cuda/reference.py), which performs the same float32
// operations in the same order.
//
// Layout: frame BGR uint8 [height, width, 3] with rows `pitch` bytes apart; windows float32
// [count, 3] (step, x0, y0); out float32 [count, 3, size, size], RGB planes, values 0..255.

extern "C" __global__ void crop_resize_bilinear(const unsigned char* __restrict__ frame, int height, int width,
                                                int pitch, const float* __restrict__ windows, int count,
                                                float pad_b, float pad_g, float pad_r,
                                                float* __restrict__ out, int size)
{
    const int u = blockIdx.x * blockDim.x + threadIdx.x;
    const int v = blockIdx.y * blockDim.y + threadIdx.y;
    const int n = blockIdx.z;
    if (u >= size || v >= size || n >= count) {
        return;
    }
    const float step = windows[3 * n];
    const float sx = __fadd_rn(__fmul_rn(step, (float)u), windows[3 * n + 1]);
    const float sy = __fadd_rn(__fmul_rn(step, (float)v), windows[3 * n + 2]);
    float left = floorf(sx);
    float top = floorf(sy);
    const float ax = __fsub_rn(sx, left);  // weight of the right column
    const float ay = __fsub_rn(sy, top);   // weight of the bottom row
    const float bx = __fsub_rn(1.0f, ax);
    const float by = __fsub_rn(1.0f, ay);
    // Far outside the frame both taps read the pad value whatever the position: clamping keeps the
    // integer conversion in range for any window.
    left = fminf(fmaxf(left, -2.0f), (float)width);
    top = fminf(fmaxf(top, -2.0f), (float)height);
    const int x0 = (int)left;
    const int y0 = (int)top;
    const bool in_x0 = x0 >= 0 && x0 < width;
    const bool in_x1 = x0 + 1 >= 0 && x0 + 1 < width;
    const bool in_y0 = y0 >= 0 && y0 < height;
    const bool in_y1 = y0 + 1 >= 0 && y0 + 1 < height;
    const unsigned char* row0 = frame + (long long)y0 * pitch;
    const unsigned char* row1 = row0 + pitch;
    const long long plane = (long long)size * size;
    float* pixel = out + (long long)n * 3 * plane + (long long)v * size + u;
    for (int c = 0; c < 3; ++c) {  // BGR channel c goes to RGB plane 2 - c
        const float pad = c == 0 ? pad_b : (c == 1 ? pad_g : pad_r);
        const float p00 = (in_y0 && in_x0) ? (float)row0[x0 * 3 + c] : pad;
        const float p01 = (in_y0 && in_x1) ? (float)row0[(x0 + 1) * 3 + c] : pad;
        const float p10 = (in_y1 && in_x0) ? (float)row1[x0 * 3 + c] : pad;
        const float p11 = (in_y1 && in_x1) ? (float)row1[(x0 + 1) * 3 + c] : pad;
        const float upper = __fadd_rn(__fmul_rn(p00, bx), __fmul_rn(p01, ax));
        const float lower = __fadd_rn(__fmul_rn(p10, bx), __fmul_rn(p11, ax));
        pixel[(2 - c) * plane] = __fadd_rn(__fmul_rn(upper, by), __fmul_rn(lower, ay));
    }
}
